"""A message whose body nests deeper than any request may is shown raw on the queue's page."""

from __future__ import annotations

from typing import Any

import httpx
from cmq.queue import Message, QueueMeta

from tests.support import CmqAccounts, RunningServer


def test_a_deeply_nested_message_body_is_shown_raw(
    console_server: RunningServer, signed_in: httpx.Client, cmq_accounts: CmqAccounts
) -> None:
    account: Any = cmq_accounts(console_server.base_url)
    queue = account.get_queue("deep")
    queue.create(QueueMeta())
    queue.send_message(Message("[" * 5000 + "]" * 5000))

    page = signed_in.get("/console/queues/deep")

    assert page.status_code == 200
    assert "[[[[[[[[" in page.text
