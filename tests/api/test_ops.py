"""/healthz and /metrics."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import RunningServer


def test_healthz_answers_once_ready(server: RunningServer) -> None:
    response = httpx.get(f"{server.base_url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_metrics_count_requests_and_queue_depths(server: RunningServer, account: Any) -> None:
    from cmq.cmq_exception import CMQServerException
    from cmq.queue import Message, QueueMeta

    account.get_queue("depth").create(QueueMeta())
    account.get_queue("depth").send_message(Message("a"))
    account.get_queue("depth").send_message(Message("b"))
    with pytest.raises(CMQServerException):
        account.get_queue("missing").get_attributes()
    response = httpx.get(f"{server.base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'batchd_requests_total{protocol="cmq",action="SendMessage",code="0"} 2' in text
    assert 'batchd_requests_total{protocol="cmq",action="GetQueueAttributes",code="4440"} 1' in text
    assert 'queue="depth"} 2' in text
    assert 'batchd_push_deliveries_total{outcome="delivered"}' in text
    assert 'batchd_push_deliveries{state="dead_lettered"} 0' in text
