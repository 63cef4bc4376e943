"""Records of the message service as the core hands them to protocol layers."""

from __future__ import annotations

from dataclasses import dataclass

from batchd.domain.ids import MessageId, QueueId, SubscriptionId, TopicId
from batchd.domain.queue import QueueAttributes
from batchd.domain.subscription import ContentFormat, NotifyStrategy, Protocol
from batchd.domain.topic import Filter, FilterType


@dataclass(frozen=True, slots=True, kw_only=True)
class Queue:
    pk: int
    queue_id: QueueId
    name: str
    attributes: QueueAttributes
    created_ms: int
    modified_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCounters:
    active: int
    inactive: int
    delayed: int
    rewindable: int
    oldest_enqueue_ms: int  # 0 when the queue holds nothing unconsumed


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedMessage:
    msg_id: MessageId
    body: bytes
    receipt_handle: str
    enqueue_ms: int
    first_dequeue_ms: int
    next_visible_ms: int
    dequeue_count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PeekedMessage:
    """A stored message seen without receiving it (no counters change)."""

    msg_id: MessageId
    body: bytes
    enqueue_ms: int
    visible_ms: int
    dequeue_count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Topic:
    pk: int
    topic_id: TopicId
    name: str
    max_msg_size: int
    filter_type: FilterType
    created_ms: int
    modified_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    pk: int
    subscription_id: SubscriptionId
    topic_pk: int
    name: str
    protocol: Protocol
    endpoint: str
    notify_strategy: NotifyStrategy
    content_format: ContentFormat
    filter: Filter
    created_ms: int
    modified_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One pending or dead-lettered push of a published message to one subscription."""

    pk: int
    account: str
    region: str
    topic_name: str
    subscription_name: str
    protocol: Protocol
    endpoint: str
    notify_strategy: NotifyStrategy
    content_format: ContentFormat
    msg_id: MessageId
    body: bytes
    tags: tuple[str, ...]
    publish_ms: int
    attempts: int
    next_attempt_ms: int
    dead: bool
    last_error: str
    created_ms: int  # when this delivery (or its redrive) started its retry window
