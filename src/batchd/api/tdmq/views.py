"""The answer types of the TDMQ CMQ actions, shaped as the official `tdmq` models parse them:
CmqQueue, CmqTopic, CmqSubscription (tdmq-api.md §2). What batchd knows is filled in; a cloud
concept with no meaning here (QPS caps, tenants, namespaces, tags) is `null`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from batchd.domain.message import Queue, QueueCounters, Subscription, Topic

TOPIC_RETENTION_SECONDS = 86_400  # a topic keeps a message one day (cmq-api.md), not settable
STATUS_NORMAL = 1


def uin(account: str) -> int | None:
    """CreateUin and TopicOwner are numbers in the API; an AppId that is not stays unknown."""
    return int(account) if account.isdigit() and len(account) < 19 else None


def _cloud_fields(account: str) -> dict[str, Any]:
    """What queues and topics share of the cloud's bookkeeping."""
    return {
        "CreateUin": uin(account),
        "Tags": [],
        "Trace": False,
        "TenantId": None,
        "NamespaceName": None,
        "Status": STATUS_NORMAL,
    }


def queue(
    found: Queue, counters: QueueCounters, sources: Sequence[Queue], account: str
) -> dict[str, Any]:
    attributes = found.attributes
    dead_letter = attributes.dead_letter
    return {
        "QueueId": found.queue_id,
        "QueueName": found.name,
        "Qps": None,
        "Bps": None,
        "MaxDelaySeconds": None,
        "MaxMsgHeapNum": attributes.max_msg_heap_num,
        "PollingWaitSeconds": attributes.polling_wait_seconds,
        "MsgRetentionSeconds": attributes.msg_retention_seconds,
        "VisibilityTimeout": attributes.visibility_timeout,
        "MaxMsgSize": attributes.max_msg_size,
        "RewindSeconds": attributes.rewind_seconds,
        "CreateTime": found.created_ms,
        "LastModifyTime": found.modified_ms,
        "ActiveMsgNum": counters.active,
        "InactiveMsgNum": counters.inactive,
        "DelayMsgNum": counters.delayed,
        "RewindMsgNum": counters.rewindable,
        "MinMsgTime": counters.oldest_enqueue_ms // 1000,
        "Transaction": False,
        "DeadLetterSource": [
            {"QueueId": source.queue_id, "QueueName": source.name} for source in sources
        ],
        "DeadLetterPolicy": None
        if dead_letter is None
        else {
            "DeadLetterQueue": dead_letter.queue_name,
            "Policy": int(dead_letter.policy),
            "MaxTimeToLive": dead_letter.max_time_to_live,
            "MaxReceiveCount": dead_letter.max_receive_count,
        },
        "TransactionPolicy": None,
        **_cloud_fields(account),
        "MaxUnackedMsgNum": None,
        "MaxMsgBacklogSize": None,
        "RetentionSizeInMB": None,
    }


def topic(found: Topic, held: int, subscriptions: int, account: str) -> dict[str, Any]:
    return {
        "TopicId": found.topic_id,
        "TopicName": found.name,
        "MsgRetentionSeconds": TOPIC_RETENTION_SECONDS,
        "MaxMsgSize": found.max_msg_size,
        "Qps": None,
        "FilterType": int(found.filter_type),
        "CreateTime": found.created_ms,
        "LastModifyTime": found.modified_ms,
        "MsgCount": held,
        **_cloud_fields(account),
        "BrokerType": None,
        "SubscriptionCount": subscriptions,
    }


def subscription(
    found: Subscription, pending: int, topic_name: str, account: str
) -> dict[str, Any]:
    return {
        "SubscriptionName": found.name,
        "SubscriptionId": found.subscription_id,
        "TopicOwner": uin(account),
        "MsgCount": pending,
        "LastModifyTime": found.modified_ms,
        "CreateTime": found.created_ms,
        "BindingKey": list(found.filter.binding_keys),
        "Endpoint": found.endpoint,
        "FilterTags": list(found.filter.filter_tags),
        "Protocol": str(found.protocol),
        "NotifyStrategy": str(found.notify_strategy),
        "NotifyContentFormat": str(found.content_format),
        "TopicName": topic_name,
    }
