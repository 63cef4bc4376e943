"""The TDMQ CMQ actions: request models in, the message service's operations, answers out.

The same operations serve the CMQ 2.0 actions (`api/cmq`) and the console, so a queue made here
is the queue the CMQ SDK receives from, under the same rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from batchd.api.tc3.apis import Handler
from batchd.api.tdmq import models as m
from batchd.api.tdmq import views
from batchd.domain import errors
from batchd.domain import queue as queue_rules
from batchd.domain.message import Queue
from batchd.domain.scope import Scope
from batchd.mq.service import MessageService

DEFAULT_LIMIT = 20
MAX_LIMIT = 50
MAX_OFFSET = 2**31 - 1  # larger values overflow the databases' integer columns
MAX_NAMES = 50  # of QueueNameList / TopicNameList / a filter's values
DEFAULT_TOPIC_MSG_SIZE = 65_536
DEFAULT_NOTIFY_STRATEGY = "EXPONENTIAL_DECAY_RETRY"

# CreateCmqQueue / ModifyCmqQueueAttribute fields and the message service's attribute names.
_QUEUE_ATTRIBUTES = {
    "MaxMsgHeapNum": "max_msg_heap_num",
    "PollingWaitSeconds": "polling_wait_seconds",
    "VisibilityTimeout": "visibility_timeout",
    "MaxMsgSize": "max_msg_size",
    "MsgRetentionSeconds": "msg_retention_seconds",
    "RewindSeconds": "rewind_seconds",
}


def build(service: MessageService) -> dict[str, tuple[type[BaseModel], Handler]]:
    """Every CMQ action of the TDMQ API: its request model and its handler."""
    queues, topics, subscriptions = service.queues, service.topics, service.subscriptions

    # --- queues ------------------------------------------------------------------------------

    async def create_queue(scope: Scope, r: m.CreateCmqQueueRequest) -> dict[str, Any]:
        _refuse_cloud_only_queue_features(r)
        _refuse_tags(r.Tags)
        created = await queues.create(scope, r.QueueName, _queue_changes(r))
        return {"QueueId": created.queue_id}

    async def modify_queue(scope: Scope, r: m.ModifyCmqQueueAttributeRequest) -> dict[str, Any]:
        _refuse_cloud_only_queue_features(r)
        changes = _queue_changes(r)
        if not changes:
            raise errors.InvalidParameterValue(
                "name at least one attribute to change", code="InvalidParameterValue.AtLeastOne"
            )
        await queues.set_attributes(scope, r.QueueName, changes)
        return {}

    async def queue_view(scope: Scope, found: Queue) -> dict[str, Any]:
        _, counters = await queues.get(scope, found.name)
        sources = await queues.dead_letter_sources(scope, found.name)
        return views.queue(found, counters, sources, scope.account)

    async def describe_queue(scope: Scope, r: m.QueueNameRequest) -> dict[str, Any]:
        found, _ = await queues.get(scope, r.QueueName)
        return {"QueueDescribe": await queue_view(scope, found)}

    async def describe_queues(scope: Scope, r: m.DescribeCmqQueuesRequest) -> dict[str, Any]:
        offset, limit = _page(r.Offset, r.Limit)
        names = _named(r.QueueNameList, r.Filters, "QueueName")
        if names is None:
            total, found = await queues.page(scope, r.QueueName or "", offset, limit)
        else:
            existing = [await _existing_queue(scope, name) for name in names]
            named = [queue for queue in existing if queue is not None]
            total, found = len(named), named[offset : offset + limit]
        return {
            "TotalCount": total,
            "QueueList": [await queue_view(scope, queue) for queue in found],
        }

    async def _existing_queue(scope: Scope, name: str) -> Queue | None:
        try:
            found, _ = await queues.get(scope, name)
        except errors.QueueNotFound:
            return None
        return found

    async def delete_queue(scope: Scope, r: m.QueueNameRequest) -> dict[str, Any]:
        await queues.delete(scope, r.QueueName)
        return {}

    async def clear_queue(scope: Scope, r: m.QueueNameRequest) -> dict[str, Any]:
        await queues.purge(scope, r.QueueName)
        return {}

    async def rewind_queue(scope: Scope, r: m.RewindCmqQueueRequest) -> dict[str, Any]:
        await queues.rewind(scope, r.QueueName, r.StartConsumeTime)
        return {}

    async def unbind_dead_letter(scope: Scope, r: m.UnbindCmqDeadLetterRequest) -> dict[str, Any]:
        await queues.set_attributes(scope, r.SourceQueueName, {"dead_letter": None})
        return {}

    # --- topics ------------------------------------------------------------------------------

    async def create_topic(scope: Scope, r: m.CreateCmqTopicRequest) -> dict[str, Any]:
        _refuse_topic_retention(r.MsgRetentionSeconds)
        _refuse_trace(r.Trace)
        _refuse_tags(r.Tags)
        created = await topics.create(
            scope, r.TopicName, r.MaxMsgSize or DEFAULT_TOPIC_MSG_SIZE, r.FilterType or 1
        )
        return {"TopicId": created.topic_id}

    async def modify_topic(scope: Scope, r: m.ModifyCmqTopicAttributeRequest) -> dict[str, Any]:
        _refuse_topic_retention(r.MsgRetentionSeconds)
        _refuse_trace(r.Trace)
        await topics.set_attributes(scope, r.TopicName, r.MaxMsgSize)
        return {}

    async def topic_view(scope: Scope, name: str) -> dict[str, Any]:
        found, held = await topics.get(scope, name)
        count, _ = await subscriptions.page(scope, name, "", 0, 0)
        return views.topic(found, held, count, scope.account)

    async def describe_topic(scope: Scope, r: m.TopicNameRequest) -> dict[str, Any]:
        return {"TopicDescribe": await topic_view(scope, r.TopicName)}

    async def describe_topics(scope: Scope, r: m.DescribeCmqTopicsRequest) -> dict[str, Any]:
        offset, limit = _page(r.Offset, r.Limit)
        names = _named(r.TopicNameList, r.Filters, "TopicName")
        if names is None:
            total, found = await topics.page(scope, r.TopicName or "", offset, limit)
            listed = [topic.name for topic in found]
        else:
            existing = [name for name in names if await _topic_exists(scope, name)]
            total, listed = len(existing), existing[offset : offset + limit]
        return {
            "TotalCount": total,
            "TopicList": [await topic_view(scope, name) for name in listed],
        }

    async def _topic_exists(scope: Scope, name: str) -> bool:
        try:
            await topics.get(scope, name)
        except errors.TopicNotFound:
            return False
        return True

    async def delete_topic(scope: Scope, r: m.TopicNameRequest) -> dict[str, Any]:
        await topics.delete(scope, r.TopicName)
        return {}

    # --- subscriptions -----------------------------------------------------------------------

    async def subscribe(scope: Scope, r: m.CreateCmqSubscribeRequest) -> dict[str, Any]:
        created = await subscriptions.subscribe(
            scope,
            r.TopicName,
            r.SubscriptionName,
            protocol=r.Protocol,
            endpoint=r.Endpoint,
            notify_strategy=r.NotifyStrategy or DEFAULT_NOTIFY_STRATEGY,
            content_format=r.NotifyContentFormat,
            filter_tags=r.FilterTag or [],
            binding_keys=r.BindingKey or [],
        )
        return {"SubscriptionId": created.subscription_id}

    async def describe_subscriptions(
        scope: Scope, r: m.DescribeCmqSubscriptionDetailRequest
    ) -> dict[str, Any]:
        offset, limit = _page(r.Offset, r.Limit)
        search = r.SubscriptionName or ""
        if r.QueueName is None:
            total, found = await subscriptions.page(scope, r.TopicName, search, offset, limit)
        else:  # the subscriptions that fill one queue
            every_count, _ = await subscriptions.page(scope, r.TopicName, search, 0, 0)
            _, every = await subscriptions.page(scope, r.TopicName, search, 0, every_count)
            into_queue = [
                s
                for s in every
                if str(s.protocol) == "queue" and s.endpoint.lower() == r.QueueName.lower()
            ]
            total, found = len(into_queue), into_queue[offset : offset + limit]
        views_of = []
        for listed in found:
            current, pending = await subscriptions.get(scope, r.TopicName, listed.name)
            views_of.append(views.subscription(current, pending, r.TopicName, scope.account))
        return {"TotalCount": total, "SubscriptionSet": views_of}

    async def modify_subscription(
        scope: Scope, r: m.ModifyCmqSubscriptionAttributeRequest
    ) -> dict[str, Any]:
        await subscriptions.set_attributes(
            scope,
            r.TopicName,
            r.SubscriptionName,
            notify_strategy=r.NotifyStrategy,
            content_format=r.NotifyContentFormat,
            filter_tags=r.FilterTags,
            binding_keys=r.BindingKey,
        )
        return {}

    async def unsubscribe(scope: Scope, r: m.SubscriptionNameRequest) -> dict[str, Any]:
        await subscriptions.unsubscribe(scope, r.TopicName, r.SubscriptionName)
        return {}

    async def clear_filter_tags(scope: Scope, r: m.SubscriptionNameRequest) -> dict[str, Any]:
        await subscriptions.set_attributes(
            scope,
            r.TopicName,
            r.SubscriptionName,
            notify_strategy=None,
            content_format=None,
            filter_tags=[],
            binding_keys=None,
        )
        return {}

    # --- messages ----------------------------------------------------------------------------

    async def send(scope: Scope, r: m.SendCmqMsgRequest) -> dict[str, Any]:
        (msg_id,) = await queues.send(scope, r.QueueName, [r.MsgContent], r.DelaySeconds)
        return {"Result": True, "MsgId": msg_id}

    async def publish(scope: Scope, r: m.PublishCmqMsgRequest) -> dict[str, Any]:
        (msg_id,) = await service.publisher.publish(
            scope, r.TopicName, [r.MsgContent], r.MsgTag or [], ""
        )
        return {"Result": True, "MsgId": msg_id}

    return {
        "CreateCmqQueue": (m.CreateCmqQueueRequest, create_queue),
        "ModifyCmqQueueAttribute": (m.ModifyCmqQueueAttributeRequest, modify_queue),
        "DescribeCmqQueueDetail": (m.QueueNameRequest, describe_queue),
        "DescribeCmqQueues": (m.DescribeCmqQueuesRequest, describe_queues),
        "DeleteCmqQueue": (m.QueueNameRequest, delete_queue),
        "ClearCmqQueue": (m.QueueNameRequest, clear_queue),
        "RewindCmqQueue": (m.RewindCmqQueueRequest, rewind_queue),
        "UnbindCmqDeadLetter": (m.UnbindCmqDeadLetterRequest, unbind_dead_letter),
        "CreateCmqTopic": (m.CreateCmqTopicRequest, create_topic),
        "ModifyCmqTopicAttribute": (m.ModifyCmqTopicAttributeRequest, modify_topic),
        "DescribeCmqTopicDetail": (m.TopicNameRequest, describe_topic),
        "DescribeCmqTopics": (m.DescribeCmqTopicsRequest, describe_topics),
        "DeleteCmqTopic": (m.TopicNameRequest, delete_topic),
        "CreateCmqSubscribe": (m.CreateCmqSubscribeRequest, subscribe),
        "DescribeCmqSubscriptionDetail": (
            m.DescribeCmqSubscriptionDetailRequest,
            describe_subscriptions,
        ),
        "ModifyCmqSubscriptionAttribute": (
            m.ModifyCmqSubscriptionAttributeRequest,
            modify_subscription,
        ),
        "DeleteCmqSubscribe": (m.SubscriptionNameRequest, unsubscribe),
        "ClearCmqSubscriptionFilterTags": (m.SubscriptionNameRequest, clear_filter_tags),
        "SendCmqMsg": (m.SendCmqMsgRequest, send),
        "PublishCmqMsg": (m.PublishCmqMsgRequest, publish),
    }


# --- reading requests ------------------------------------------------------------------------


def _queue_changes(r: m.QueueAttributes) -> dict[str, object]:
    changes: dict[str, object] = {
        domain: getattr(r, wire)
        for wire, domain in _QUEUE_ATTRIBUTES.items()
        if getattr(r, wire) is not None
    }
    if r.DeadLetterQueueName is not None:
        changes["dead_letter"] = queue_rules.dead_letter(
            r.DeadLetterQueueName, r.Policy or 0, r.MaxReceiveCount or 0, r.MaxTimeToLive or 0
        )
    return changes


def _page(offset: int | None, limit: int | None) -> tuple[int, int]:
    offset = offset or 0
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 0 <= offset <= MAX_OFFSET:
        raise errors.InvalidParameterValue(f"allowed 0-{MAX_OFFSET}", parameter="Offset")
    if not 0 <= limit <= MAX_LIMIT:
        raise errors.InvalidParameterValue(f"allowed 0-{MAX_LIMIT}", parameter="Limit")
    return offset, limit


def _named(
    name_list: Sequence[str] | None, filters: Sequence[m.Filter] | None, filter_name: str
) -> list[str] | None:
    """The exact names a Describe asks for (its name list and `filter_name` filters, OR-ed), or
    None when it asks for none."""
    names: list[str] | None = None if name_list is None else list(name_list)
    for item in filters or []:
        if item.Name != filter_name:
            raise errors.InvalidParameterValue(
                f"filter {item.Name!r} is not supported: filter by {filter_name}",
                parameter="Filters",
            )
        names = [*(names or []), *item.Values]
    if names is not None and len(names) > MAX_NAMES:
        raise errors.InvalidParameterValue(f"at most {MAX_NAMES} names", parameter="Filters")
    return None if names is None else list(dict.fromkeys(names))


# --- what batchd does not offer --------------------------------------------------------------


def _refuse_cloud_only_queue_features(r: m.QueueAttributes) -> None:
    if r.Transaction:
        raise errors.Unsupported(
            "batchd has no transaction queues: leave Transaction unset or 0",
            parameter="Transaction",
        )
    if r.RetentionSizeInMB:
        raise errors.Unsupported(
            "batchd sizes rewind storage by RewindSeconds alone: leave RetentionSizeInMB unset",
            parameter="RetentionSizeInMB",
        )
    _refuse_trace(r.Trace)


def _refuse_trace(trace: bool | None) -> None:
    if trace:
        raise errors.Unsupported(
            "batchd keeps no message traces: leave Trace unset or false", parameter="Trace"
        )


def _refuse_tags(tags: Sequence[m.Tag] | None) -> None:
    if tags:
        raise errors.Unsupported(
            "batchd does not tag queues or topics: leave Tags out", parameter="Tags"
        )


def _refuse_topic_retention(seconds: int | None) -> None:
    if seconds is not None and seconds != views.TOPIC_RETENTION_SECONDS:
        raise errors.Unsupported(
            f"a topic keeps its messages {views.TOPIC_RETENTION_SECONDS} s in batchd: "
            "leave MsgRetentionSeconds unset",
            parameter="MsgRetentionSeconds",
        )
