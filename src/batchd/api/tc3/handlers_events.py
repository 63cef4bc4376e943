"""The batchd extension actions on the Batch API endpoint: an event history, listed and replayed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from batchd.api.tc3 import handlers_common as common
from batchd.api.tc3 import models_events as event_models
from batchd.api.tc3.dispatch import Handler
from batchd.control.event_history import EventHistory
from batchd.domain import notifications as notification_rules
from batchd.domain.events import iso
from batchd.domain.scope import Scope
from batchd.store.repos.events import HistoryEntry


def build(history: EventHistory) -> dict[str, tuple[type[BaseModel], Handler]]:
    """The event history actions (batchd extensions, see `actions`): their request models and
    handlers."""

    async def describe_events(
        scope: Scope, request: event_models.DescribeEventsRequest
    ) -> dict[str, Any]:
        offset, limit = common.page(request)
        total, entries = await history.events_of(scope, request.OwnerId, offset=offset, limit=limit)
        return {"TotalCount": total, "EventSet": [_history_view(entry) for entry in entries]}

    async def replay_events(
        scope: Scope, request: event_models.ReplayEventsRequest
    ) -> dict[str, Any]:
        count = await history.replay_events(
            scope, request.OwnerId, request.TopicName, request.EventIds or ()
        )
        return {"ReplayedCount": count}

    return {
        "DescribeEvents": (event_models.DescribeEventsRequest, describe_events),
        "ReplayEvents": (event_models.ReplayEventsRequest, replay_events),
    }


def _history_view(entry: HistoryEntry) -> dict[str, Any]:
    """An EventSet item of DescribeEvents: the stored event, and the envelope event of
    events.md §3.1 a consumer would get (without the `EventVars` of any one topic)."""
    event = entry.event
    (envelope_event,) = notification_rules.envelope(event, [])["Events"]
    return {
        "EventId": event.event_id,
        "EventName": event.name,
        "ResourceId": entry.resource_id,
        "Sequence": event.sequence,
        "EventTime": iso(event.created_ms),
        "Undeliverable": entry.undeliverable,
        "Event": envelope_event,
    }
