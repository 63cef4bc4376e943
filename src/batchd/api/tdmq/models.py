"""Request models of the TDMQ CMQ actions (tdmq-api.md §2), field names as the API spells them.

Only types are checked here; names, ranges and counts are the message service's own rules, the
same for the CMQ 2.0 actions, so one rule answers both protocols.
"""

from __future__ import annotations

from batchd.api.tc3.rules import Wire


class Tag(Wire):
    TagKey: str
    TagValue: str


class Filter(Wire):
    Name: str
    Values: list[str]


class QueueAttributes(Wire):
    """What CreateCmqQueue and ModifyCmqQueueAttribute both set."""

    MaxMsgHeapNum: int | None = None
    PollingWaitSeconds: int | None = None
    VisibilityTimeout: int | None = None
    MaxMsgSize: int | None = None
    MsgRetentionSeconds: int | None = None
    RewindSeconds: int | None = None
    Transaction: int | None = None
    FirstQueryInterval: int | None = None
    MaxQueryCount: int | None = None
    DeadLetterQueueName: str | None = None
    Policy: int | None = None
    MaxReceiveCount: int | None = None
    MaxTimeToLive: int | None = None
    Trace: bool | None = None
    RetentionSizeInMB: int | None = None


class CreateCmqQueueRequest(QueueAttributes):
    QueueName: str
    Tags: list[Tag] | None = None


class ModifyCmqQueueAttributeRequest(QueueAttributes):
    QueueName: str


class QueueNameRequest(Wire):
    """DescribeCmqQueueDetail, DeleteCmqQueue, ClearCmqQueue."""

    QueueName: str


class RewindCmqQueueRequest(Wire):
    QueueName: str
    StartConsumeTime: int


class UnbindCmqDeadLetterRequest(Wire):
    SourceQueueName: str


class ListRequest(Wire):
    Offset: int | None = None
    Limit: int | None = None
    IsTagFilter: bool | None = None
    Filters: list[Filter] | None = None


class DescribeCmqQueuesRequest(ListRequest):
    QueueName: str | None = None
    QueueNameList: list[str] | None = None


class CreateCmqTopicRequest(Wire):
    TopicName: str
    MaxMsgSize: int | None = None
    FilterType: int | None = None
    MsgRetentionSeconds: int | None = None
    Trace: bool | None = None
    Tags: list[Tag] | None = None


class DescribeCmqTopicsRequest(ListRequest):
    TopicName: str | None = None
    TopicNameList: list[str] | None = None


class TopicNameRequest(Wire):
    """DescribeCmqTopicDetail, DeleteCmqTopic."""

    TopicName: str


class ModifyCmqTopicAttributeRequest(Wire):
    TopicName: str
    MaxMsgSize: int | None = None
    MsgRetentionSeconds: int | None = None
    Trace: bool | None = None


class CreateCmqSubscribeRequest(Wire):
    TopicName: str
    SubscriptionName: str
    Protocol: str
    Endpoint: str
    NotifyStrategy: str | None = None
    FilterTag: list[str] | None = None
    BindingKey: list[str] | None = None
    NotifyContentFormat: str | None = None


class DescribeCmqSubscriptionDetailRequest(Wire):
    TopicName: str
    Offset: int | None = None
    Limit: int | None = None
    SubscriptionName: str | None = None
    QueueName: str | None = None
    QueryType: str | None = None


class ModifyCmqSubscriptionAttributeRequest(Wire):
    TopicName: str
    SubscriptionName: str
    NotifyStrategy: str | None = None
    NotifyContentFormat: str | None = None
    FilterTags: list[str] | None = None
    BindingKey: list[str] | None = None


class SubscriptionNameRequest(Wire):
    """DeleteCmqSubscribe, ClearCmqSubscriptionFilterTags."""

    TopicName: str
    SubscriptionName: str


class SendCmqMsgRequest(Wire):
    QueueName: str
    MsgContent: str
    DelaySeconds: int


class PublishCmqMsgRequest(Wire):
    TopicName: str
    MsgContent: str
    MsgTag: list[str] | None = None
