"""Nothing acknowledged is lost: kill -9 of a real `batchd serve` process, then restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import CmqAccounts, ServerProcess


@pytest.fixture
def process(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "data", database_url)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _restart(process: ServerProcess, cmq_accounts: CmqAccounts) -> Any:
    process.kill()
    process.start()
    return cmq_accounts(process.base_url)


def test_sent_and_published_messages_survive_kill_9(
    process: ServerProcess, cmq_accounts: CmqAccounts
) -> None:
    from cmq.queue import Message, QueueMeta
    from cmq.subscription import SubscriptionMeta
    from cmq.topic import Message as TopicMessage
    from cmq.topic import TopicMeta

    account = cmq_accounts(process.base_url)
    account.get_queue("direct").create(QueueMeta())
    account.get_queue("fanout").create(QueueMeta())
    account.get_topic("events").create(TopicMeta())
    meta = SubscriptionMeta()
    meta.Protocal, meta.Endpoint, meta.NotifyContentFormat = "queue", "fanout", "SIMPLIFIED"
    account.get_subscription("events", "to-fanout").create(meta)
    sent = account.get_queue("direct").send_message(Message("sent before the crash")).msgId
    account.get_topic("events").publish_message(TopicMessage("published before the crash"))

    account = _restart(process, cmq_accounts)

    received = account.get_queue("direct").receive_message(polling_wait_seconds=1)
    assert (received.msgId, received.msgBody) == (sent, "sent before the crash")
    fanned = account.get_queue("fanout").receive_message(polling_wait_seconds=1)
    assert fanned.msgBody == "published before the crash"


def test_a_deleted_message_never_comes_back_after_restart(
    process: ServerProcess, cmq_accounts: CmqAccounts
) -> None:
    from cmq.cmq_exception import CMQServerException
    from cmq.queue import Message, QueueMeta

    account = cmq_accounts(process.base_url)
    meta = QueueMeta()
    meta.visibilityTimeout = 1
    account.get_queue("q").create(meta)
    queue = account.get_queue("q")
    queue.send_message(Message("once"))
    message = queue.receive_message(polling_wait_seconds=1)
    queue.delete_message(message.receiptHandle)

    account = _restart(process, cmq_accounts)

    with pytest.raises(CMQServerException) as raised:
        account.get_queue("q").receive_message(polling_wait_seconds=2)
    assert raised.value.code == 7000


def test_receipt_handles_issued_before_a_crash_keep_their_rules(
    process: ServerProcess, cmq_accounts: CmqAccounts
) -> None:
    from cmq.cmq_exception import CMQServerException
    from cmq.queue import Message, QueueMeta

    account = cmq_accounts(process.base_url)
    meta = QueueMeta()
    meta.visibilityTimeout = 1
    account.get_queue("q").create(meta)
    account.get_queue("q").send_message(Message("m"))
    first = account.get_queue("q").receive_message(polling_wait_seconds=1)

    account = _restart(process, cmq_accounts)

    # The visibility timeout ran out: the message is received again with a new handle.
    second = account.get_queue("q").receive_message(polling_wait_seconds=5)
    assert second.msgId == first.msgId
    assert second.dequeueCount == 2
    with pytest.raises(CMQServerException) as raised:
        account.get_queue("q").delete_message(first.receiptHandle)
    assert raised.value.code == 4430
    account.get_queue("q").delete_message(second.receiptHandle)


def test_sigterm_stops_the_server_cleanly(process: ServerProcess) -> None:
    assert process.terminate() == 0
