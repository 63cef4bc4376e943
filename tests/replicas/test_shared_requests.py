"""Replicas of one PostgreSQL database answer as one server (store/request_memory.py): a signed
CMQ request replayed to another replica is refused, and a key limited to R requests a second gets
about R a second from all replicas together, not R from each.

The replicas are batchd's application served in threads of this process, each with a data
directory and a loopback port of its own (and, once, two `batchd serve` processes). Clients that
reach replicas through one load balancer sign its host name: the tests send that Host to both.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.api.raw import Answer, RawClient
from tests.support import RunningServer, ServerProcess, server_in_thread

pytestmark = pytest.mark.timeout(240)  # fresh servers: slow on a busy machine

SHARED_HOST = "cmq.batchd.test"  # the name of the load balancer in front of the replicas
RATE = 20.0  # requests a second; bursts of 40
HAMMER_SECONDS = 3.0


@contextlib.contextmanager
def two_replicas(
    tmp_path: Path, database_url: str, rate_limit: float = 0.0
) -> Iterator[tuple[RunningServer, RunningServer]]:
    with (
        server_in_thread(tmp_path / "a", database_url, rate_limit=rate_limit) as a,
        server_in_thread(tmp_path / "b", database_url, rate_limit=rate_limit) as b,
    ):
        yield a, b


@contextlib.contextmanager
def clients_of_two_replicas(
    tmp_path: Path, database_url: str
) -> Iterator[tuple[RawClient, RawClient]]:
    """A client of each of two replicas, both behind one host name, and a queue `fresh`."""
    with (
        two_replicas(tmp_path, database_url) as (a, b),
        behind_one_host(a) as to_a,
        behind_one_host(b) as to_b,
    ):
        to_a.call("CreateQueue", {"queueName": "fresh"}).ok()
        yield to_a, to_b


@contextlib.contextmanager
def behind_one_host(running: RunningServer) -> Iterator[RawClient]:
    """A client of `running` that signs and sends the load balancer's host name."""
    with RawClient(running) as raw:
        raw.host = SHARED_HOST
        raw.http.headers["Host"] = SHARED_HOST
        yield raw


def active_messages(raw: RawClient, queue: str) -> int:
    return int(raw.call("GetQueueAttributes", {"queueName": queue}).ok()["activeMsgNum"])


def replay_across(first: RunningServer, second: RunningServer) -> None:
    """A request through `first`, the same again through `second` and `first`: refused both
    times; a new nonce through `second` is accepted (its refusal was the nonce's)."""
    with behind_one_host(first) as to_first, behind_one_host(second) as to_second:
        to_first.call("CreateQueue", {"queueName": "fresh"}).ok()
        send = {"queueName": "fresh", "msgBody": "once"}
        nonce, timestamp = 424242, int(time.time())
        to_first.call("SendMessage", send, nonce=nonce, timestamp=timestamp).ok()

        for raw, method in ((to_second, "POST"), (to_second, "GET"), (to_first, "POST")):
            replay = raw.call("SendMessage", send, nonce=nonce, timestamp=timestamp, method=method)
            replay.expect(4100, 10030, mentions="nonce was already used")
        to_second.call("SendMessage", send, nonce=nonce + 1, timestamp=timestamp).ok()
        assert active_messages(to_second, "fresh") == 2


def hammer(replicas: Sequence[RunningServer], seconds: float) -> tuple[int, int, float]:
    """Two clients per replica send ListQueue for `seconds`, and until each was refused once:
    (admitted, refused, seconds from before the first request to after the last answer)."""
    clients = [RawClient(running) for running in (*replicas, *replicas)]
    codes: list[int] = []
    lock = threading.Lock()

    def send(raw: RawClient, until: float) -> None:
        refused = False
        while time.monotonic() < until or not refused:
            code = raw.call("ListQueue", {"limit": 1}).code
            refused = refused or code == 4420
            with lock:
                codes.append(code)

    started = time.monotonic()
    try:
        with ThreadPoolExecutor(len(clients)) as pool:
            for future in [pool.submit(send, raw, started + seconds) for raw in clients]:
                future.result()
    finally:
        for raw in clients:
            raw.close()
    elapsed = time.monotonic() - started
    admitted, refused = codes.count(0), codes.count(4420)
    assert admitted + refused == len(codes), sorted(set(codes))
    return admitted, refused, elapsed


def assert_one_rate(admitted: int, elapsed: float) -> None:
    """At most R a second in all, plus the burst of 2R and what a replica did not know of yet (a
    fifth of a second's worth; one second's is allowed here): R on each replica would admit up
    to twice as many. At least R: the burst alone is 2R."""
    assert RATE <= admitted <= RATE * elapsed + 2 * RATE + RATE, (admitted, elapsed)


def test_a_request_replayed_to_another_replica_is_refused(
    replica_database_url: str, tmp_path: Path
) -> None:
    with two_replicas(tmp_path, replica_database_url) as (a, b):
        replay_across(a, b)


def test_concurrent_copies_of_a_request_on_both_replicas_run_once(
    replica_database_url: str, tmp_path: Path
) -> None:
    with clients_of_two_replicas(tmp_path, replica_database_url) as (to_a, to_b):
        send = {"queueName": "fresh", "msgBody": "once"}
        pairs = [*to_a.common("SendMessage", nonce=515151), *send.items()]
        signed = [*pairs, ("Signature", to_a.signature(pairs))]
        clients = [to_a, to_b] * 16

        with ThreadPoolExecutor(len(clients)) as pool:
            answers = list(pool.map(lambda raw: raw.send("POST", signed), clients))

        codes = sorted(answer.code for answer in answers)
        assert codes == [0] + [4100] * (len(clients) - 1), [a.text for a in answers]
        assert active_messages(to_a, "fresh") == 1


def test_different_nonces_at_once_are_all_accepted(
    replica_database_url: str, tmp_path: Path
) -> None:
    with clients_of_two_replicas(tmp_path, replica_database_url) as (to_a, to_b):
        send = {"queueName": "fresh", "msgBody": "each"}

        def sent(raw: RawClient) -> Answer:
            return raw.call("SendMessage", send)

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(sent, [to_a, to_b] * 40))

        assert [answer.code for answer in answers] == [0] * 80
        assert active_messages(to_b, "fresh") == 80


def test_a_key_gets_its_rate_from_all_replicas_together(
    replica_database_url: str, tmp_path: Path
) -> None:
    with two_replicas(tmp_path, replica_database_url, rate_limit=RATE) as replicas:
        admitted, _refused, elapsed = hammer(replicas, HAMMER_SECONDS)
    assert_one_rate(admitted, elapsed)


def test_a_replica_stops_its_shared_memory(replica_database_url: str, tmp_path: Path) -> None:
    """The threads of the shared memory end with the replica (its connections with them)."""
    before = {thread.name for thread in threading.enumerate()}
    with (
        server_in_thread(tmp_path / "a", replica_database_url, rate_limit=RATE) as running,
        RawClient(running) as raw,
    ):
        raw.call("ListQueue", {"limit": 1}).ok()
    left = {thread.name for thread in threading.enumerate()} - before
    assert not [name for name in left if name.startswith("batchd-request-memory")]


class LimitedServer(ServerProcess):
    """`batchd serve` with --rate-limit (through its variable)."""

    def __init__(self, data_dir: Path, database_url: str, rate_limit: float) -> None:
        super().__init__(data_dir, database_url)
        self.rate_limit = rate_limit

    def env(self) -> dict[str, str]:
        return {**super().env(), "BATCHD_RATE_LIMIT": str(self.rate_limit)}


@pytest.mark.slow
def test_two_serve_processes_share_nonces_and_rates(
    replica_database_url: str, tmp_path: Path
) -> None:
    first = LimitedServer(tmp_path / "first", replica_database_url, RATE)
    second = LimitedServer(tmp_path / "second", replica_database_url, RATE)
    with first.serving(), second.serving():
        replay_across(first.running(), second.running())
        # The requests above spent tokens already: they can only lower what is admitted below.
        admitted, _refused, elapsed = hammer([first.running(), second.running()], HAMMER_SECONDS)
    assert_one_rate(admitted, elapsed)
