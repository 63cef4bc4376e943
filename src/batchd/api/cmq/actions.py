"""Every CMQ action: its parameters, and how its answer is spelled (cmq-api.md §2)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from batchd.api.cmq.params import Params, Spec
from batchd.domain import errors
from batchd.domain import queue as queue_rules
from batchd.domain.message import ReceivedMessage
from batchd.domain.queue import DeadLetter, DeadLetterPolicy
from batchd.domain.scope import Scope
from batchd.mq.service import MessageService

# Queue attribute parameters and the domain's names for them.
QUEUE_ATTRIBUTES = {
    "maxMsgHeapNum": "max_msg_heap_num",
    "pollingWaitSeconds": "polling_wait_seconds",
    "visibilityTimeout": "visibility_timeout",
    "maxMsgSize": "max_msg_size",
    "msgRetentionSeconds": "msg_retention_seconds",
    "rewindSeconds": "rewind_seconds",
}
DEAD_LETTER = ("deadLetterQueueName", "policy", "maxReceiveCount", "maxTimeToLive")
WIRE_NAMES = {domain: wire for wire, domain in QUEUE_ATTRIBUTES.items()}
MAX_LIST_LIMIT = 50
MAX_BATCH_BYTES = 1024 * 1024
MAX_OFFSET = 2**31 - 1  # larger values overflow the databases' integer columns


@dataclass(slots=True)
class Reply:
    fields: dict[str, Any] = field(default_factory=dict)
    code: int = 0
    message: str = ""


Handler = Callable[[MessageService, Scope, Params], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Action:
    spec: Spec
    handler: Handler


ACTIONS: dict[str, Action] = {}


def action(
    name: str, scalars: tuple[str, ...] = (), lists: tuple[str, ...] = ()
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ACTIONS[name] = Action(Spec(frozenset(scalars), frozenset(lists)), handler)
        return handler

    return register


# --- helpers ---------------------------------------------------------------------------------


def _seconds(ms: int) -> int:
    return ms // 1000


def _queue_changes(p: Params) -> dict[str, object]:
    changes: dict[str, object] = {}
    for wire, domain in QUEUE_ATTRIBUTES.items():
        value = p.optional_integer(wire)
        if value is not None:
            changes[domain] = value
    dead_letter_queue = p.optional_text("deadLetterQueueName")
    if dead_letter_queue is not None:
        policy = p.integer("policy", 0)
        if policy not in (0, 1):
            raise errors.InvalidParameterValue("policy must be 0 or 1", parameter="policy")
        changes["dead_letter"] = (
            DeadLetter(
                queue_name=dead_letter_queue,
                policy=DeadLetterPolicy(policy),
                max_receive_count=p.integer("maxReceiveCount", 0),
                max_time_to_live=p.integer("maxTimeToLive", 0),
            )
            if dead_letter_queue
            else None
        )
    return changes


def _paging(p: Params, max_limit: int, max_offset: int | None = None) -> tuple[str, int, int]:
    offset = p.integer("offset", 0)
    limit = p.integer("limit", 20)
    if not 0 <= offset <= (MAX_OFFSET if max_offset is None else max_offset):
        raise errors.InvalidParameterValue(parameter="offset")
    if not 0 <= limit <= max_limit:
        raise errors.InvalidParameterValue(f"allowed 0-{max_limit}", parameter="limit")
    search = p.text("searchWord", "")
    if len(search) > 64:  # longer than any name; SQLite refuses LIKE patterns over 50 000 bytes
        raise errors.InvalidParameterValue("at most 64 characters", parameter="searchWord")
    return search, offset, limit


def _message_fields(message: ReceivedMessage) -> dict[str, Any]:
    return {
        "msgBody": message.body.decode("utf-8", errors="replace"),
        "msgId": message.msg_id,
        "receiptHandle": message.receipt_handle,
        "enqueueTime": _seconds(message.enqueue_ms),
        "firstDequeueTime": _seconds(message.first_dequeue_ms),
        "nextVisibleTime": _seconds(message.next_visible_ms),
        "dequeueCount": message.dequeue_count,
    }


def _bodies(p: Params, name: str = "msgBody") -> list[str]:
    bodies = p.items(name)
    if bodies is None:
        raise errors.MissingParameter(parameter=name)
    queue_rules.check_batch(len(bodies), name)
    if sum(len(body.encode("utf-8")) for body in bodies) > MAX_BATCH_BYTES:
        raise errors.BatchTooLarge(parameter=name)
    return bodies


def _polling_wait(p: Params) -> int | None:
    return p.optional_integer("pollingWaitSeconds")


_NO_MESSAGE = Reply(code=7000, message="(10200)no message")


# --- queues ----------------------------------------------------------------------------------

_ATTRS = tuple(QUEUE_ATTRIBUTES) + DEAD_LETTER


@action("CreateQueue", ("queueName", *_ATTRS))
async def create_queue(svc: MessageService, scope: Scope, p: Params) -> Reply:
    queue = await svc.queues.create(scope, p.text("queueName"), _queue_changes(p))
    return Reply({"queueId": queue.queue_id})


@action("SetQueueAttributes", ("queueName", *_ATTRS))
async def set_queue_attributes(svc: MessageService, scope: Scope, p: Params) -> Reply:
    await svc.queues.set_attributes(scope, p.text("queueName"), _queue_changes(p))
    return Reply()


@action("GetQueueAttributes", ("queueName",))
async def get_queue_attributes(svc: MessageService, scope: Scope, p: Params) -> Reply:
    queue, counters = await svc.queues.get(scope, p.text("queueName"))
    attributes = queue.attributes
    fields: dict[str, Any] = {
        "queueName": queue.name,
        "queueId": queue.queue_id,
        **{wire: getattr(attributes, domain) for wire, domain in QUEUE_ATTRIBUTES.items()},
        "createTime": _seconds(queue.created_ms),
        "lastModifyTime": _seconds(queue.modified_ms),
        "activeMsgNum": counters.active,
        "inactiveMsgNum": counters.inactive,
        "delayMsgNum": counters.delayed,
        "rewindmsgNum": counters.rewindable,
        "minMsgTime": _seconds(counters.oldest_enqueue_ms),
    }
    if attributes.dead_letter is not None:
        fields["deadLetterPolicy"] = {
            "deadLetterQueue": attributes.dead_letter.queue_name,
            "policy": int(attributes.dead_letter.policy),
            "maxReceiveCount": attributes.dead_letter.max_receive_count,
            "maxTimeToLive": attributes.dead_letter.max_time_to_live,
        }
    return Reply(fields)


@action("DeleteQueue", ("queueName",))
async def delete_queue(svc: MessageService, scope: Scope, p: Params) -> Reply:
    await svc.queues.delete(scope, p.text("queueName"))
    return Reply()


@action("ListQueue", ("searchWord", "offset", "limit"))
async def list_queue(svc: MessageService, scope: Scope, p: Params) -> Reply:
    search, offset, limit = _paging(p, MAX_LIST_LIMIT)
    total, found = await svc.queues.page(scope, search, offset, limit)
    return Reply(
        {
            "totalCount": total,
            "queueList": [{"queueId": q.queue_id, "queueName": q.name} for q in found],
        }
    )


@action("RewindQueue", ("queueName", "startConsumeTime"))
async def rewind_queue(svc: MessageService, scope: Scope, p: Params) -> Reply:
    await svc.queues.rewind(scope, p.text("queueName"), p.integer("startConsumeTime"))
    return Reply()


@action("SendMessage", ("queueName", "msgBody", "delaySeconds"))
async def send_message(svc: MessageService, scope: Scope, p: Params) -> Reply:
    (msg_id,) = await svc.queues.send(
        scope, p.text("queueName"), [p.text("msgBody")], p.integer("delaySeconds", 0)
    )
    return Reply({"msgId": msg_id})


@action("BatchSendMessage", ("queueName", "delaySeconds"), ("msgBody",))
async def batch_send_message(svc: MessageService, scope: Scope, p: Params) -> Reply:
    name = p.text("queueName")
    msg_ids = await svc.queues.send(scope, name, _bodies(p), p.integer("delaySeconds", 0))
    return Reply({"msgList": [{"msgId": msg_id} for msg_id in msg_ids]})


@action("ReceiveMessage", ("queueName", "pollingWaitSeconds"))
async def receive_message(svc: MessageService, scope: Scope, p: Params) -> Reply:
    received = await svc.queues.receive(scope, p.text("queueName"), 1, _polling_wait(p))
    if not received:
        return _NO_MESSAGE
    return Reply(_message_fields(received[0]))


@action("BatchReceiveMessage", ("queueName", "numOfMsg", "pollingWaitSeconds"))
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


@action("DeleteMessage", ("queueName", "receiptHandle"))
async def delete_message(svc: MessageService, scope: Scope, p: Params) -> Reply:
    handle = _handle(p.text("receiptHandle"))
    if await svc.queues.delete_messages(scope, p.text("queueName"), [handle]):
        raise errors.InvalidReceiptHandle(parameter="receiptHandle", resource=handle)
    return Reply()


@action("BatchDeleteMessage", ("queueName",), ("receiptHandle",))
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


# --- topics ----------------------------------------------------------------------------------


@action("CreateTopic", ("topicName", "maxMsgSize", "filterType"))
async def create_topic(svc: MessageService, scope: Scope, p: Params) -> Reply:
    topic = await svc.topics.create(
        scope, p.text("topicName"), p.integer("maxMsgSize", 65_536), p.integer("filterType", 1)
    )
    return Reply({"topicId": topic.topic_id})


@action("SetTopicAttributes", ("topicName", "maxMsgSize"))
async def set_topic_attributes(svc: MessageService, scope: Scope, p: Params) -> Reply:
    await svc.topics.set_attributes(scope, p.text("topicName"), p.optional_integer("maxMsgSize"))
    return Reply()


@action("GetTopicAttributes", ("topicName",))
async def get_topic_attributes(svc: MessageService, scope: Scope, p: Params) -> Reply:
    topic, held = await svc.topics.get(scope, p.text("topicName"))
    return Reply(
        {
            "topicName": topic.name,
            "topicId": topic.topic_id,
            "msgCount": held,
            "maxMsgSize": topic.max_msg_size,
            "msgRetentionSeconds": 86_400,
            "createTime": _seconds(topic.created_ms),
            "lastModifyTime": _seconds(topic.modified_ms),
            "filterType": int(topic.filter_type),
        }
    )


@action("DeleteTopic", ("topicName",))
async def delete_topic(svc: MessageService, scope: Scope, p: Params) -> Reply:
    await svc.topics.delete(scope, p.text("topicName"))
    return Reply()


@action("ListTopic", ("searchWord", "offset", "limit"))
async def list_topic(svc: MessageService, scope: Scope, p: Params) -> Reply:
    search, offset, limit = _paging(p, MAX_LIST_LIMIT)
    total, found = await svc.topics.page(scope, search, offset, limit)
    return Reply(
        {
            "totalCount": total,
            "topicList": [{"topicId": t.topic_id, "topicName": t.name} for t in found],
        }
    )


def _tags(p: Params) -> list[str]:
    return p.items("msgTag") or []


@action("PublishMessage", ("topicName", "msgBody", "routingKey"), ("msgTag",))
async def publish_message(svc: MessageService, scope: Scope, p: Params) -> Reply:
    (msg_id,) = await svc.publisher.publish(
        scope, p.text("topicName"), [p.text("msgBody")], _tags(p), p.text("routingKey", "")
    )
    return Reply({"msgId": msg_id})


@action("BatchPublishMessage", ("topicName", "routingKey"), ("msgBody", "msgTag"))
async def batch_publish_message(svc: MessageService, scope: Scope, p: Params) -> Reply:
    name = p.text("topicName")
    msg_ids = await svc.publisher.publish(
        scope, name, _bodies(p), _tags(p), p.text("routingKey", "")
    )
    return Reply({"msgList": [{"msgId": msg_id} for msg_id in msg_ids]})


# --- subscriptions ---------------------------------------------------------------------------

_SUBSCRIPTION = ("topicName", "subscriptionName")


@action(
    "Subscribe",
    (*_SUBSCRIPTION, "protocol", "endpoint", "notifyStrategy", "notifyContentFormat"),
    ("filterTag", "bindingKey"),
)
async def subscribe(svc: MessageService, scope: Scope, p: Params) -> Reply:
    subscription = await svc.subscriptions.subscribe(
        scope,
        p.text("topicName"),
        p.text("subscriptionName"),
        protocol=p.text("protocol"),
        endpoint=p.text("endpoint"),
        notify_strategy=p.text("notifyStrategy", "EXPONENTIAL_DECAY_RETRY"),
        content_format=p.optional_text("notifyContentFormat"),
        filter_tags=p.items("filterTag") or [],
        binding_keys=p.items("bindingKey") or [],
    )
    return Reply({"subscriptionId": subscription.subscription_id})


@action("Unsubscribe", _SUBSCRIPTION)
async def unsubscribe(svc: MessageService, scope: Scope, p: Params) -> Reply:
    await svc.subscriptions.unsubscribe(scope, p.text("topicName"), p.text("subscriptionName"))
    return Reply()


@action("ListSubscriptionByTopic", ("topicName", "searchWord", "offset", "limit"))
async def list_subscription_by_topic(svc: MessageService, scope: Scope, p: Params) -> Reply:
    search, offset, limit = _paging(p, 100, max_offset=1000)
    total, found = await svc.subscriptions.page(scope, p.text("topicName"), search, offset, limit)
    return Reply(
        {
            "totalCount": total,
            "subscriptionList": [
                {
                    "subscriptionId": s.subscription_id,
                    "subscriptionName": s.name,
                    "protocol": str(s.protocol),
                    "endpoint": s.endpoint,
                }
                for s in found
            ],
        }
    )


@action("GetSubscriptionAttributes", _SUBSCRIPTION)
async def get_subscription_attributes(svc: MessageService, scope: Scope, p: Params) -> Reply:
    subscription, pending = await svc.subscriptions.get(
        scope, p.text("topicName"), p.text("subscriptionName")
    )
    return Reply(
        {
            "topicOwner": scope.account,
            "msgCount": pending,
            "protocol": str(subscription.protocol),
            "protocal": str(subscription.protocol),  # the SDK reads this misspelling
            "endpoint": subscription.endpoint,
            "notifyStrategy": str(subscription.notify_strategy),
            "notifyContentFormat": str(subscription.content_format),
            "createTime": _seconds(subscription.created_ms),
            "lastModifyTime": _seconds(subscription.modified_ms),
            "filterTags": list(subscription.filter.filter_tags),
            "bindingKey": list(subscription.filter.binding_keys),
        }
    )


@action(
    "SetSubscriptionAttributes",
    (*_SUBSCRIPTION, "notifyStrategy", "notifyContentFormat"),
    ("filterTag", "bindingKey"),
)
async def set_subscription_attributes(svc: MessageService, scope: Scope, p: Params) -> Reply:
    await svc.subscriptions.set_attributes(
        scope,
        p.text("topicName"),
        p.text("subscriptionName"),
        notify_strategy=p.optional_text("notifyStrategy"),
        content_format=p.optional_text("notifyContentFormat"),
        filter_tags=p.items("filterTag"),
        binding_keys=p.items("bindingKey"),
    )
    return Reply()


@action("ClearSubscriptionFilterTags", _SUBSCRIPTION)
async def clear_subscription_filter_tags(svc: MessageService, scope: Scope, p: Params) -> Reply:
    await svc.subscriptions.set_attributes(
        scope,
        p.text("topicName"),
        p.text("subscriptionName"),
        notify_strategy=None,
        content_format=None,
        filter_tags=[],
        binding_keys=None,
    )
    return Reply()


# --- batchd extensions (no CMQ equivalent; used by the batchd CLI and console) --------------


@action("PurgeQueue", ("queueName",))
async def purge_queue(svc: MessageService, scope: Scope, p: Params) -> Reply:
    await svc.queues.purge(scope, p.text("queueName"))
    return Reply()


@action("ListDeadLetterDeliveries", ("topicName", "offset", "limit"))
async def list_dead_letter_deliveries(svc: MessageService, scope: Scope, p: Params) -> Reply:
    _, offset, limit = _paging(p, MAX_LIST_LIMIT)
    total, found = await svc.dead_letters(scope, p.optional_text("topicName"), offset, limit)
    return Reply(
        {
            "totalCount": total,
            "deliveryList": [
                {
                    "deliveryId": d.pk,
                    "topicName": d.topic_name,
                    "subscriptionName": d.subscription_name,
                    "protocol": str(d.protocol),
                    "endpoint": d.endpoint,
                    "msgId": d.msg_id,
                    "msgBody": d.body.decode("utf-8", errors="replace"),
                    "attempts": d.attempts,
                    "lastError": d.last_error,
                    "publishTime": _seconds(d.publish_ms),
                }
                for d in found
            ],
        }
    )


@action("RedriveDeadLetterDeliveries", (), ("deliveryId",))
async def redrive_dead_letter_deliveries(svc: MessageService, scope: Scope, p: Params) -> Reply:
    given = p.items("deliveryId")
    ids: list[int] | None = None
    if given is not None:
        try:
            ids = [int(value) for value in given]
        except ValueError:
            raise errors.ParameterTypeError(parameter="deliveryId") from None
    return Reply({"redrivenCount": await svc.redrive(scope, ids)})
