"""Which subscriptions accept a message: tags and RabbitMQ-style binding keys."""

from __future__ import annotations

import pytest

from batchd.domain import errors, topic
from batchd.domain.topic import Filter, FilterType


@pytest.mark.parametrize(
    ("binding", "routing", "expected"),
    [
        ("a.b.c", "a.b.c", True),
        ("a.b.c", "a.b", False),
        ("a.*.c", "a.x.c", True),
        ("a.*.c", "a.c", False),
        ("a.*", "a.x.y", False),
        ("#", "", True),
        ("#", "anything.at.all", True),
        ("1.#.0", "1.0", True),
        ("1.#.0", "1.2.3.0", True),
        ("1.#.0", "1.2.3", False),
        ("#.end", "end", True),
        ("#.end", "a.b.end", True),
        ("a.#", "a", True),
        ("a.#.#.b", "a.b", True),
        ("*.*", "a.b", True),
        ("*", "", False),
        ("job.*.FAILED", "job.task.FAILED", True),
        ("job.*.FAILED", "job.task.SUCCEED", False),
    ],
)
def test_binding_key_matching(binding: str, routing: str, expected: bool) -> None:
    assert topic.binding_matches(binding, routing) is expected


@pytest.mark.parametrize(
    ("filter_tags", "msg_tags", "expected"),
    [
        ((), (), True),
        ((), ("a",), True),
        (("a",), (), False),
        (("a", "b"), ("b", "c"), True),
        (("a",), ("c",), False),
    ],
)
def test_tag_filtering(
    filter_tags: tuple[str, ...], msg_tags: tuple[str, ...], expected: bool
) -> None:
    accepted = topic.accepts(FilterType.TAGS, Filter(filter_tags=filter_tags), msg_tags, "")
    assert accepted is expected


def test_routing_topics_match_any_binding_key() -> None:
    subscription = Filter(binding_keys=("a.*", "b.#"))
    assert topic.accepts(FilterType.ROUTING_KEY, subscription, (), "b.x.y")
    assert not topic.accepts(FilterType.ROUTING_KEY, subscription, (), "c")


@pytest.mark.parametrize(
    ("keys", "error"),
    [
        (["k"] * 6, errors.TooManyBindingKeys),
        (["x" * 65], errors.InvalidParameterValue),
        ([".".join("a" * 17)], errors.TooManyDelimiters),
        ([""], errors.TooManyBindingKeys),
    ],
)
def test_binding_key_limits(keys: list[str], error: type[errors.BatchdError]) -> None:
    with pytest.raises(error):
        topic.check_binding_keys(keys)


@pytest.mark.parametrize("tags", [["t"] * 6, ["x" * 17], [""]])
def test_message_tag_limits(tags: list[str]) -> None:
    with pytest.raises(errors.TooManyMessageTags):
        topic.check_message_tags(tags)
