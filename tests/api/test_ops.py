"""/healthz and /metrics."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.support import RunningServer


def test_healthz_answers_once_ready(server: RunningServer) -> None:
    response = httpx.get(f"{server.base_url}/healthz")
    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == "ok"
    assert answer["role"] == "leader"  # alone on its store, it leads from the start


def _sample(text: str, name: str, labels: str) -> float:
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(labels)}\}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_metrics_count_requests_and_queue_depths(server: RunningServer, account: Any) -> None:
    from cmq.cmq_exception import CMQServerException
    from cmq.queue import Message, QueueMeta

    sends = 'protocol="cmq",action="SendMessage",code="0"'
    misses = 'protocol="cmq",action="GetQueueAttributes",code="4440"'
    before = httpx.get(f"{server.base_url}/metrics").text
    account.get_queue("depth").create(QueueMeta())
    account.get_queue("depth").send_message(Message("a"))
    account.get_queue("depth").send_message(Message("b"))
    with pytest.raises(CMQServerException):
        account.get_queue("missing").get_attributes()
    response = httpx.get(f"{server.base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text
    total = "batchd_requests_total"
    assert _sample(after, total, sends) - _sample(before, total, sends) == 2
    assert _sample(after, total, misses) - _sample(before, total, misses) == 1
    assert 'queue="depth"' not in after  # no account's resources without the administrator
    assert "batchd_queue_messages 2" in after
    admin = (server.credential.secret_id, server.credential.secret_key)
    assert 'queue="depth"} 2' in httpx.get(f"{server.base_url}/metrics", auth=admin).text
    wrong = (server.credential.secret_id, "not-the-key")
    assert 'queue="depth"' not in httpx.get(f"{server.base_url}/metrics", auth=wrong).text
    assert 'batchd_push_deliveries_total{outcome="delivered"}' in after
    assert 'batchd_push_deliveries{state="dead_lettered"} 0' in after
