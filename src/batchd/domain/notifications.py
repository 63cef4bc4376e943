"""Notifications (events.md §2, §4): which events go to which topic, and the messages they become.

Pure: the checks of events.md §2.3 that need no store, the routing of a stored event to the
topics that asked for it, and the message (envelope, tags, routing key) of events.md §3.1/§4.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from batchd.domain import errors
from batchd.domain import events as catalogue

EVENT_VERSION = "1.0"

ON_SUBMIT_JOB = frozenset(
    catalogue.JOB_EVENTS + catalogue.TASK_EVENTS + catalogue.INSTANCE_EVENTS + catalogue.NODE_EVENTS
)
ON_CREATE_ENV = frozenset(catalogue.ENV_EVENTS + catalogue.NODE_EVENTS)

_GROUPS = {
    **dict.fromkeys(catalogue.JOB_EVENTS, "job"),
    **dict.fromkeys(catalogue.TASK_EVENTS, "task"),
    **dict.fromkeys(catalogue.INSTANCE_EVENTS, "instance"),
    **dict.fromkeys(catalogue.ENV_EVENTS, "env"),
    **dict.fromkeys(catalogue.NODE_EVENTS, "node"),
}
_PREFIXES = {
    "job": "JOB_",
    "task": "TASK_",
    "instance": "TASK_INSTANCE_",
    "env": "COMPUTE_ENV_",
    "node": "COMPUTE_NODE_",
}
_CAMEL_WORD = re.compile(r"[A-Z][a-z0-9]*")


def canonical_event(name: str) -> str | None:
    """`JobFailed` → `JOB_FAILED`; canonical names in any letter case; None when unknown."""
    if not name:
        return None
    upper = name.upper()
    if upper in _GROUPS:
        return upper
    words = _CAMEL_WORD.findall(name)
    if "".join(words) != name:
        return None
    joined = "_".join(word.upper() for word in words)
    return joined if joined in _GROUPS else None


def check(notifications: Sequence[Mapping[str, Any]], *, on_job: bool) -> list[dict[str, Any]]:
    """Events.md §2.3 checks that need no store; answers the notifications with canonical event
    names and `EventVars` always present (the stored and echoed form)."""
    allowed = ON_SUBMIT_JOB if on_job else ON_CREATE_ENV
    action = "SubmitJob" if on_job else "CreateComputeEnv"
    seen: set[tuple[str, str]] = set()
    checked = []
    for n, notification in enumerate(notifications):
        topic = str(notification["TopicName"])
        configs = []
        in_this: set[str] = set()
        for c, config in enumerate(notification["EventConfigs"]):
            where = f"Notifications.{n}.EventConfigs.{c}.EventName"
            given = str(config["EventName"])
            name = canonical_event(given)
            if name is None:
                known = ", ".join(catalogue.ALL_EVENTS)
                raise errors.InvalidParameterValue(
                    f"{where}: unknown event {given!r}; events are {known}",
                    parameter=where,
                )
            if name not in allowed:
                raise errors.InvalidParameterValue(
                    f"{where}: {name} cannot be configured on {action}",
                    parameter=where,
                )
            if name in in_this or (topic, name) in seen:
                raise errors.InvalidParameter(
                    f"{where}: {name} is configured twice for topic {topic}",
                    parameter=where,
                    code="InvalidParameter.NotificationEventNameDuplicate",
                )
            in_this.add(name)
            seen.add((topic, name))
            variables = [
                {"Name": str(v["Name"]), "Value": str(v["Value"])}
                for v in config.get("EventVars") or []
            ]
            configs.append({"EventName": name, "EventVars": variables})
        checked.append({"TopicName": topic, "EventConfigs": configs})
    return checked


@dataclass(frozen=True, slots=True)
class Route:
    topic: str
    event_vars: list[dict[str, str]]


def routes(notifications: Sequence[Mapping[str, Any]], event_name: str) -> list[Route]:
    """The topics (with the matching config's `EventVars`) an event goes to; old stored
    notifications may still carry aliases, so names are compared canonically."""
    found = []
    for notification in notifications:
        for config in notification.get("EventConfigs") or []:
            if canonical_event(str(config.get("EventName", ""))) == event_name:
                found.append(
                    Route(str(notification["TopicName"]), list(config.get("EventVars") or []))
                )
    return found


@dataclass(frozen=True, slots=True)
class StoredEvent:
    event_id: str
    name: str
    region: str
    sequence: int
    created_ms: int
    body: Mapping[str, Any]  # the `Batch` object


def group(event_name: str) -> str:
    return _GROUPS[event_name]


def state_of(event_name: str) -> str:
    """The state an event reports, in lower case: `TASK_INSTANCE_FAILED_INTERRUPTED` →
    `failed_interrupted`."""
    return event_name.removeprefix(_PREFIXES[group(event_name)]).lower()


def tags(event_name: str) -> list[str]:
    return [group(event_name)]


def routing_key(event_name: str) -> str:
    return f"batch.{group(event_name)}.{state_of(event_name)}"


def envelope(event: StoredEvent, event_vars: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    return {
        "Events": [
            {
                "EventVersion": EVENT_VERSION,
                "EventTime": catalogue.iso(event.created_ms),
                "Region": event.region,
                "EventId": event.event_id,
                "EventName": event.name,
                "Sequence": event.sequence,
                "EventVars": [dict(v) for v in event_vars],
                "Batch": dict(event.body),
            }
        ]
    }


def message_body(
    event: StoredEvent, event_vars: Sequence[Mapping[str, str]], *, base64_encoded: bool
) -> bytes:
    """`msgBody` of events.md §4.1: Base64 of the UTF-8 JSON by default, raw JSON on request."""
    text = json.dumps(envelope(event, event_vars), ensure_ascii=False, separators=(",", ":"))
    raw = text.encode("utf-8")
    return base64.b64encode(raw) if base64_encoded else raw


def decode_body(body: str) -> dict[str, Any]:
    """The envelope of a received `msgBody`, Base64 or raw JSON."""
    text = body.strip()
    if not text.startswith("{"):
        text = base64.b64decode(text, validate=True).decode("utf-8")
    decoded: dict[str, Any] = json.loads(text)
    return decoded
