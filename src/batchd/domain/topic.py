"""Topic attributes and the rules that decide which subscriptions accept a message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from batchd.domain import errors, names

MAX_TAGS = 5
MAX_TAG_LENGTH = 16
MAX_KEY_BYTES = 64
MAX_KEY_DOTS = 15
TOPIC_RETENTION_SECONDS = 86_400


class FilterType(IntEnum):
    TAGS = 1
    ROUTING_KEY = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class Filter:
    """What a subscription accepts: tags for filterType 1, binding keys for filterType 2."""

    filter_tags: tuple[str, ...] = ()
    binding_keys: tuple[str, ...] = ()


def check_name(name: str) -> str:
    if not names.is_valid_name(name):
        raise errors.InvalidTopicName(parameter="topicName")
    return name


def check_max_msg_size(value: int) -> int:
    if not 1024 <= value <= 65_536:
        raise errors.InvalidParameterValue(
            "parameter maxMsgSize value or length is out of range (1024-65536)",
            parameter="maxMsgSize",
        )
    return value


def check_filter_type(value: int) -> FilterType:
    try:
        return FilterType(value)
    except ValueError:
        raise errors.InvalidParameterValue(
            "filterType must be 1 (tags) or 2 (routing keys)", parameter="filterType"
        ) from None


def check_message_tags(tags: Sequence[str]) -> tuple[str, ...]:
    if len(tags) > MAX_TAGS or any(not 0 < len(tag) <= MAX_TAG_LENGTH for tag in tags):
        raise errors.TooManyMessageTags(parameter="msgTag")
    return tuple(tags)


def check_filter_tags(tags: Sequence[str]) -> tuple[str, ...]:
    if len(tags) > MAX_TAGS or any(not 0 < len(tag) <= MAX_TAG_LENGTH for tag in tags):
        raise errors.TooManyFilterTags(parameter="filterTag")
    return tuple(tags)


def check_key(key: str, parameter: str) -> str:
    """A routing or binding key: at most 64 bytes and 15 dots."""
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise errors.InvalidParameterValue(
            f"parameter {parameter} value or length is out of range (64 bytes)",
            parameter=parameter,
        )
    if key.count(".") > MAX_KEY_DOTS:
        raise errors.TooManyDelimiters(parameter=parameter)
    return key


def check_binding_keys(keys: Sequence[str]) -> tuple[str, ...]:
    if len(keys) > MAX_TAGS or any(not key for key in keys):
        raise errors.TooManyBindingKeys(parameter="bindingKey")
    return tuple(check_key(key, "bindingKey") for key in keys)


def accepts(
    filter_type: FilterType, subscription: Filter, tags: Sequence[str], routing_key: str
) -> bool:
    """Whether a subscription with `subscription` filters takes a message (cmq-api.md §2.2)."""
    if filter_type is FilterType.TAGS:
        if not subscription.filter_tags:
            return True
        return not set(subscription.filter_tags).isdisjoint(tags)
    return any(binding_matches(key, routing_key) for key in subscription.binding_keys)


def binding_matches(binding_key: str, routing_key: str) -> bool:
    """RabbitMQ topic-exchange matching: `*` is one word, `#` is zero or more words."""
    pattern = binding_key.split(".")
    words = routing_key.split(".") if routing_key else []
    return _match(pattern, 0, words, 0)


def _match(pattern: list[str], p: int, words: list[str], w: int) -> bool:
    while p < len(pattern):
        token = pattern[p]
        if token == "#":
            # Collapse runs of '#' and try every split point for the rest.
            while p + 1 < len(pattern) and pattern[p + 1] == "#":
                p += 1
            if p + 1 == len(pattern):
                return True
            return any(_match(pattern, p + 1, words, start) for start in range(w, len(words) + 1))
        if w >= len(words):
            return False
        if token == "*":
            if not words[w]:
                return False
        elif token != words[w]:
            return False
        p += 1
        w += 1
    return w == len(words)
