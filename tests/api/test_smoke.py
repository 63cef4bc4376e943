"""The CMQ SDK can create a queue, send, receive and delete through batchd."""

from __future__ import annotations

from typing import Any


def test_send_receive_delete_round_trip(account: Any) -> None:
    from cmq.queue import Message, QueueMeta

    queue = account.get_queue("smoke")
    queue.create(QueueMeta())
    sent = queue.send_message(Message("hello"))
    received = queue.receive_message(polling_wait_seconds=1)
    assert received.msgBody == "hello"
    assert received.msgId == sent.msgId
    queue.delete_message(received.receiptHandle)
    assert queue.get_attributes().activeMsgNum == 0
