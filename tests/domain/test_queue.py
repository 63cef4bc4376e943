"""Queue attribute rules and names."""

from __future__ import annotations

import pytest

from batchd.domain import errors, names, queue
from batchd.domain.queue import DeadLetter, DeadLetterPolicy, QueueAttributes


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("q", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("Queue-1_b", True),
        ("1queue", False),
        ("-q", False),
        ("q.x", False),
        ("", False),
        ("队列", False),
    ],
)
def test_names(name: str, valid: bool) -> None:
    assert names.is_valid_name(name) is valid


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("visibility_timeout", 0),
        ("visibility_timeout", 43_201),
        ("polling_wait_seconds", 31),
        ("max_msg_size", 1023),
        ("msg_retention_seconds", 59),
        ("max_msg_heap_num", 0),
    ],
)
def test_attribute_ranges(attribute: str, value: int) -> None:
    with pytest.raises(errors.InvalidParameterValue) as raised:
        queue.apply(QueueAttributes(), {attribute: value})
    assert raised.value.parameter == attribute


def test_rewind_window_cannot_exceed_retention() -> None:
    with pytest.raises(errors.RewindBeyondRetention):
        queue.apply(QueueAttributes(), {"msg_retention_seconds": 600, "rewind_seconds": 601})


def test_unchanged_attributes_are_kept() -> None:
    updated = queue.apply(QueueAttributes(visibility_timeout=5), {"max_msg_size": 2048})
    assert (updated.visibility_timeout, updated.max_msg_size) == (5, 2048)


@pytest.mark.parametrize(
    "dead_letter",
    [
        DeadLetter(queue_name="dlq", policy=DeadLetterPolicy.BY_RECEIVE_COUNT, max_receive_count=0),
        DeadLetter(queue_name="dlq", policy=DeadLetterPolicy.BY_TIME_TO_LIVE, max_time_to_live=10),
        DeadLetter(
            queue_name="1bad", policy=DeadLetterPolicy.BY_RECEIVE_COUNT, max_receive_count=3
        ),
    ],
)
def test_dead_letter_policy_rules(dead_letter: DeadLetter) -> None:
    with pytest.raises(errors.InvalidParameterValue):
        queue.apply(QueueAttributes(), {"dead_letter": dead_letter})


def test_bodies_are_checked_for_emptiness_and_size() -> None:
    assert queue.check_bodies(["ok"], 10) == [b"ok"]
    with pytest.raises(errors.EmptyMessageBody):
        queue.check_bodies([""], 10)
    with pytest.raises(errors.MessageTooLarge):
        queue.check_bodies(["x" * 11], 10)
