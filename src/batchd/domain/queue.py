"""Queue attributes, their ranges and defaults (cmq-api.md §2.1)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import IntEnum

from batchd.domain import errors, names

MAX_BATCH = 16
MAX_DELAY_SECONDS = 3600
MAX_POLLING_WAIT_SECONDS = 30


class DeadLetterPolicy(IntEnum):
    BY_RECEIVE_COUNT = 0
    BY_TIME_TO_LIVE = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """Where and when a message that is not consumed moves aside."""

    queue_name: str
    policy: DeadLetterPolicy
    max_receive_count: int = 0
    max_time_to_live: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueAttributes:
    max_msg_heap_num: int = 10_000_000
    polling_wait_seconds: int = 0
    visibility_timeout: int = 30
    max_msg_size: int = 65_536
    msg_retention_seconds: int = 345_600
    rewind_seconds: int = 0
    dead_letter: DeadLetter | None = None


# (attribute, low, high) — the cloud's ranges, with maxMsgHeapNum's lower bound relaxed to 1.
RANGES: dict[str, tuple[int, int]] = {
    "max_msg_heap_num": (1, 1_000_000_000),
    "polling_wait_seconds": (0, MAX_POLLING_WAIT_SECONDS),
    "visibility_timeout": (1, 43_200),
    "max_msg_size": (1024, 1_048_576),
    "msg_retention_seconds": (60, 1_296_000),
    "rewind_seconds": (0, 1_296_000),
}


def dead_letter(
    queue_name: str, policy: int, max_receive_count: int, max_time_to_live: int
) -> DeadLetter | None:
    """The dead-letter setting a request asks for: an empty queue name turns it off."""
    if not queue_name:
        return None
    if policy not in (0, 1):
        raise errors.InvalidParameterValue("policy must be 0 or 1", parameter="policy")
    return DeadLetter(
        queue_name=queue_name,
        policy=DeadLetterPolicy(policy),
        max_receive_count=max_receive_count,
        max_time_to_live=max_time_to_live,
    )


def check_name(name: str) -> str:
    if not names.is_valid_name(name):
        raise errors.InvalidQueueName(parameter="queueName")
    return name


def apply(current: QueueAttributes, changes: dict[str, object]) -> QueueAttributes:
    """Return `current` with `changes` applied, or raise if the result breaks a rule.

    `changes` maps attribute names of QueueAttributes to new values; errors name the attribute,
    which the protocol layer spells its own way.
    """
    updated = dataclasses.replace(current, **changes)  # type: ignore[arg-type]
    for attribute, (low, high) in RANGES.items():
        value = getattr(updated, attribute)
        if attribute in changes and not low <= value <= high:
            raise errors.InvalidParameterValue(f"allowed {low}-{high}", parameter=attribute)
    if updated.rewind_seconds > updated.msg_retention_seconds:
        raise errors.RewindBeyondRetention(parameter="rewindSeconds")
    dead_letter = updated.dead_letter
    if dead_letter is not None:
        check_name(dead_letter.queue_name)
        if dead_letter.policy is DeadLetterPolicy.BY_RECEIVE_COUNT:
            if not 1 <= dead_letter.max_receive_count <= 1000:
                raise errors.InvalidParameterValue(
                    "maxReceiveCount must be between 1 and 1000", parameter="maxReceiveCount"
                )
        elif (
            not 300
            <= dead_letter.max_time_to_live
            <= min(43_200, updated.msg_retention_seconds - 1)
        ):
            raise errors.InvalidParameterValue(
                "maxTimeToLive must be 300-43200 s and below msgRetentionSeconds",
                parameter="maxTimeToLive",
            )
    return updated


def check_delay(delay_seconds: int) -> int:
    if not 0 <= delay_seconds <= MAX_DELAY_SECONDS:
        raise errors.DelayOutOfRange(parameter="delaySeconds")
    return delay_seconds


def check_polling_wait(seconds: int) -> int:
    if not 0 <= seconds <= MAX_POLLING_WAIT_SECONDS:
        raise errors.InvalidParameterValue(
            "pollingWaitSeconds must be between 0 and 30", parameter="pollingWaitSeconds"
        )
    return seconds


def check_bodies(bodies: list[str], max_msg_size: int) -> list[bytes]:
    """Encode message bodies, refusing empty ones and those over the size limit."""
    encoded = [body.encode("utf-8") for body in bodies]
    for body in encoded:
        if not body:
            raise errors.EmptyMessageBody(parameter="msgBody")
        if len(body) > max_msg_size:
            raise errors.MessageTooLarge(parameter="msgBody")
    return encoded


def check_batch(count: int, parameter: str) -> None:
    if not 1 <= count <= MAX_BATCH:
        raise errors.BatchSizeOutOfRange(
            f"{parameter} parameter batch size is out of range (1-{MAX_BATCH})",
            parameter=parameter,
        )
