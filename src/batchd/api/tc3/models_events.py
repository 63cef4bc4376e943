"""Request models of the batchd extension actions on events (see `actions`): DescribeEvents and
ReplayEvents, over the stored event history of a job or compute environment."""

from __future__ import annotations

from typing import Annotated

from batchd.api.tc3 import rules
from batchd.api.tc3.models_common import TOPIC_NAME
from batchd.api.tc3.rules import (
    Wire,
    between,
    distinct,
    items_max,
    items_min,
    text_max,
    text_pattern,
)

MAX_LIMIT = 100
MAX_EVENT_IDS = 100

OwnerIdValue = Annotated[
    str,
    text_pattern(
        r"(job|env)-[a-z0-9]{8}",
        "InvalidParameterValue",
        "a job id (`job-` + 8 letters/digits) or a compute environment id (`env-` + 8)",
    ),
]
"""The job or compute environment whose events are meant (node events belong to their env)."""

EventIdValue = Annotated[
    str,
    text_pattern(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "InvalidParameterValue",
        "an EventId (a lower-case UUID, as DescribeEvents lists them)",
    ),
]

TopicNameValue = Annotated[
    str,
    text_max(64, "InvalidParameter.NotificationTopicNameTooLong"),
    text_pattern(
        TOPIC_NAME,
        "InvalidParameter.NotificationTopicName",
        "a topic name: a letter, then letters, digits, '-' or '_'",
    ),
]
"""The rules and codes of a `Notifications` TopicName (events.md §2.3)."""


class DescribeEventsRequest(Wire):
    OwnerId: OwnerIdValue
    Offset: rules.Offset | None = None
    Limit: Annotated[int, between(0, MAX_LIMIT)] | None = None


class ReplayEventsRequest(Wire):
    OwnerId: OwnerIdValue
    TopicName: TopicNameValue
    EventIds: (
        Annotated[list[EventIdValue], items_min(1), items_max(MAX_EVENT_IDS), distinct()] | None
    ) = None
