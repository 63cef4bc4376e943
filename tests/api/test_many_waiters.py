"""Many consumers long-polling one queue (how CMQ is used): each send wakes one of them, not all,
so N sends cost the server O(N) units of work rather than O(N²), and every consumer gets one
message."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.api.raw import RawClient
from tests.support import RunningServer, wait_until

CONSUMERS = 40


def units(server: RunningServer) -> int:
    text = httpx.get(f"{server.base_url}/metrics").text
    found = re.search(r"^batchd_store_units_total (\d+)", text, re.MULTILINE)
    assert found, text
    return int(found.group(1))


def test_n_waiting_consumers_cost_each_send_one_wake_up(server: RunningServer) -> None:
    with RawClient(server) as cmq:
        cmq.call("CreateQueue", {"queueName": "busy"}).ok()

    def consume(_: int) -> str:
        with RawClient(server) as client:
            answer = client.call("ReceiveMessage", {"queueName": "busy", "pollingWaitSeconds": 30})
            return str(answer.ok()["msgBody"])

    with ThreadPoolExecutor(CONSUMERS) as pool:
        received = pool.map(consume, range(CONSUMERS))
        time.sleep(1.0)  # every consumer is waiting
        before = units(server)
        with RawClient(server) as sender:
            for number in range(CONSUMERS):
                sender.call("SendMessage", {"queueName": "busy", "msgBody": f"m{number}"}).ok()
        bodies = sorted(received)
        wait_until(lambda: units(server) >= before + 2 * CONSUMERS, timeout=10)
        spent = units(server) - before

    assert bodies == sorted(f"m{number}" for number in range(CONSUMERS))
    # A send and the receive it wakes, plus a few receives that lost a race: with every waiter
    # woken by every send this was about CONSUMERS² / 2 (800 here).
    assert spent <= 4 * CONSUMERS, spent
