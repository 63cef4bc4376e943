"""CMQ message actions: send, receive and delete a queue's messages, one or a batch at a time."""

from __future__ import annotations

from typing import Any

from batchd.api.cmq.actions_common import Action, Reply, action, message_bodies, seconds
from batchd.api.cmq.params import Params
from batchd.domain import errors
from batchd.domain import queue as queue_rules
from batchd.domain.message import ReceivedMessage
from batchd.domain.scope import Scope
from batchd.mq.service import MessageService

ACTIONS: dict[str, Action] = {}


def _message_fields(message: ReceivedMessage) -> dict[str, Any]:
    return {
        "msgBody": message.body.decode("utf-8", errors="replace"),
        "msgId": message.msg_id,
        "receiptHandle": message.receipt_handle,
        "enqueueTime": seconds(message.enqueue_ms),
        "firstDequeueTime": seconds(message.first_dequeue_ms),
        "nextVisibleTime": seconds(message.next_visible_ms),
        "dequeueCount": message.dequeue_count,
    }


def _polling_wait(p: Params) -> int | None:
    return p.optional_integer("pollingWaitSeconds")


_NO_MESSAGE = Reply(code=7000, message="(10200)no message")


@action(ACTIONS, "SendMessage", ("queueName", "msgBody", "delaySeconds"))
async def send_message(svc: MessageService, scope: Scope, p: Params) -> Reply:
    (msg_id,) = await svc.queues.send(
        scope, p.text("queueName"), [p.text("msgBody")], p.integer("delaySeconds", 0)
    )
    return Reply({"msgId": msg_id})


@action(ACTIONS, "BatchSendMessage", ("queueName", "delaySeconds"), ("msgBody",))
async def batch_send_message(svc: MessageService, scope: Scope, p: Params) -> Reply:
    name = p.text("queueName")
    msg_ids = await svc.queues.send(scope, name, message_bodies(p), p.integer("delaySeconds", 0))
    return Reply({"msgList": [{"msgId": msg_id} for msg_id in msg_ids]})


@action(ACTIONS, "ReceiveMessage", ("queueName", "pollingWaitSeconds"))
async def receive_message(svc: MessageService, scope: Scope, p: Params) -> Reply:
    received = await svc.queues.receive(scope, p.text("queueName"), 1, _polling_wait(p))
    if not received:
        return _NO_MESSAGE
    return Reply(_message_fields(received[0]))


@action(ACTIONS, "BatchReceiveMessage", ("queueName", "numOfMsg", "pollingWaitSeconds"))
async def batch_receive_message(svc: MessageService, scope: Scope, p: Params) -> Reply:
    name = p.text("queueName")
    count = p.integer("numOfMsg")
    queue_rules.check_batch(count, "numOfMsg")
    received = await svc.queues.receive(scope, name, count, _polling_wait(p))
    if not received:
        return _NO_MESSAGE
    return Reply({"msgInfoList": [_message_fields(message) for message in received]})


def _handle(value: str) -> str:
    if not value.strip():
        raise errors.MalformedReceiptHandle(parameter="receiptHandle")
    return value


@action(ACTIONS, "DeleteMessage", ("queueName", "receiptHandle"))
async def delete_message(svc: MessageService, scope: Scope, p: Params) -> Reply:
    handle = _handle(p.text("receiptHandle"))
    if await svc.queues.delete_messages(scope, p.text("queueName"), [handle]):
        raise errors.InvalidReceiptHandle(parameter="receiptHandle", resource=handle)
    return Reply()


@action(ACTIONS, "BatchDeleteMessage", ("queueName",), ("receiptHandle",))
async def batch_delete_message(svc: MessageService, scope: Scope, p: Params) -> Reply:
    name = p.text("queueName")
    handles = p.items("receiptHandle")
    if handles is None:
        raise errors.MissingParameter(parameter="receiptHandle")
    queue_rules.check_batch(len(handles), "receiptHandle")
    failed = await svc.queues.delete_messages(scope, name, [_handle(h) for h in handles])
    if not failed:
        return Reply()
    return Reply(
        {
            "errorList": [
                {"code": 4430, "message": "(10260)receipt handle is invalid", "receiptHandle": h}
                for h in failed
            ]
        },
        code=6010,
        message="(10150)delete message partially failed",
    )
