"""Request data types shared by jobs and compute environments (batch-api.md §3, events.md §2)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any, Literal

from pydantic import AfterValidator

from batchd.api.tc3.rules import (
    Wire,
    items_max,
    items_min,
    refuse,
    text_max,
    text_min,
    text_pattern,
)
from batchd.domain import storage

MAX_FILTER_VALUES = 10


class Tag(Wire):
    Key: str
    Value: str


Tags = Annotated[list[Tag], items_max(10)]


class Filter(Wire):
    Name: str
    Values: list[str]


def filter_names(names: Collection[str], tags: bool = False) -> AfterValidator:
    """Filters (a list, or one Filter) whose names are among `names` (and `tag:<key>` if
    `tags`): another name answers `InvalidFilter`, more than 10 values
    `InvalidParameterValue.LimitExceeded`."""
    allowed = ", ".join([*names, "tag:<key>"] if tags else names)

    def check(value: list[Filter] | Filter) -> list[Filter] | Filter:
        for item in value if isinstance(value, list) else [value]:
            tagged = tags and item.Name.startswith("tag:") and len(item.Name) > len("tag:")
            if item.Name not in names and not tagged:
                raise refuse(
                    "InvalidFilter",
                    f"filter name {item.Name!r} is not supported here; use one of {allowed}",
                )
            if len(item.Values) > MAX_FILTER_VALUES:
                raise refuse(
                    "InvalidParameterValue.LimitExceeded",
                    f"filter {item.Name!r} has more than {MAX_FILTER_VALUES} values",
                )
        return value

    return AfterValidator(check)


class Placement(Wire):
    """Only `Zone` means something to batchd (a label); the rest is CLOUD."""

    Zone: str
    ProjectId: int | None = None
    HostIds: list[str] | None = None
    HostId: str | None = None
    DedicatedResourcePackTenancy: str | None = None
    DedicatedResourcePackIds: list[str] | None = None
    RackId: str | None = None


class Authentication(Wire):
    """CLOUD (COS credentials): stored, masked on output."""

    Scene: str
    SecretId: str
    SecretKey: str


def storage_uri(direction: storage.Direction) -> AfterValidator:
    """A path or URL that the nodes can copy from or to (batch-api.md §4.8)."""

    def check(value: str) -> str:
        problem = storage.refusal(value, direction)
        if problem is not None:
            raise refuse(STORAGE_SCHEME, f"`{{name}}`: {problem}")
        return value

    return AfterValidator(check)


STORAGE_SCHEME = "InvalidParameterValue.RemoteStorageSchemeType"


class InputMapping(Wire):
    SourcePath: Annotated[str, storage_uri("input")]
    DestinationPath: Annotated[str, storage_uri("local")]
    MountOptionParameter: str | None = None
    MountType: str | None = None


class MountDataDisk(Wire):
    """CLOUD."""

    LocalPath: str
    FileSystemType: str | None = None


class AgentRunningMode(Wire):
    """CLOUD."""

    Scene: str
    User: str
    Session: str


class LoginSettings(Wire):
    """CLOUD."""

    Password: str | None = None
    KeyIds: list[str] | None = None
    KeepImageLogin: str | None = None


# --- notifications (events.md §2) ------------------------------------------------------------

TOPIC_NAME = r"[A-Za-z][A-Za-z0-9_-]{0,63}"


class EventVar(Wire):
    Name: Annotated[str, text_min(1), text_max(64)]
    Value: Annotated[str, text_max(1024)]


class EventConfig(Wire):
    EventName: str
    # The SDK marks EventVars required; the founding doc's example leaves it out (events.md §2.3).
    EventVars: Annotated[list[EventVar], items_max(20)] | None = None


class Notification(Wire):
    TopicName: Annotated[
        str,
        text_max(64, "InvalidParameter.NotificationTopicNameTooLong"),
        text_pattern(
            TOPIC_NAME,
            "InvalidParameter.NotificationTopicName",
            "a topic name: a letter, then letters, digits, '-' or '_'",
        ),
    ]
    EventConfigs: Annotated[list[EventConfig], items_min(1)]


NotificationTarget = Literal["CMQ", "TDMQ_CMQ"]

_LEGACY_KEYS = {
    "topic_name": "TopicName",
    "event_configs": "EventConfigs",
    "event_name": "EventName",
    "event_vars": "EventVars",
    "name": "Name",
    "value": "Value",
}


def _respell(value: Any) -> Any:
    if isinstance(value, list):
        return [_respell(item) for item in value]
    if not isinstance(value, dict):
        return value
    respelled: dict[str, Any] = {}
    for key, item in value.items():
        name = _LEGACY_KEYS.get(str(key), str(key))
        if name in respelled:
            raise refuse(
                "InvalidParameter.InvalidParameterCombination",
                f"`{{at}}notifications` spells `{name}` twice (`{key}` and `{name}`)",
            )
        respelled[name] = _respell(item)
    return respelled


def legacy_notifications(data: Any) -> Any:
    """Accept the founding doc's `notifications` with snake_case keys as `Notifications`
    (events.md §2.2); a before-validator of `Job` and `NamedComputeEnv`."""
    if not isinstance(data, dict) or "notifications" not in data:
        return data
    if "Notifications" in data:
        raise refuse(
            "InvalidParameter.InvalidParameterCombination",
            "`{at}Notifications` and `{at}notifications` cannot be given together",
        )
    rest = {key: value for key, value in data.items() if key != "notifications"}
    return {**rest, "Notifications": _respell(data["notifications"])}
