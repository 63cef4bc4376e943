"""The task-instance state machine (batch-api.md §4.1): pure transitions that return events.

Every function takes the current record and a stimulus and returns the new record and the names
of the events to publish. Illegal moves raise InvalidTransition.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from batchd.domain.states import SETTLED, FailedAction, InstanceState

S = InstanceState


class InvalidTransition(Exception):
    def __init__(self, entity: str, state: str, stimulus: str) -> None:
        super().__init__(f"{entity} in state {state} cannot take {stimulus}")
        self.state = state
        self.stimulus = stimulus


@dataclass(frozen=True, slots=True, kw_only=True)
class Instance:
    index: int
    state: InstanceState = S.SUBMITTED
    attempt: int = 0  # attempts launched so far in this run
    exit_code: int | None = None
    reason: str = ""
    detail: str = ""
    node_id: str = ""
    env_id: str = ""
    create_ms: int = 0
    launch_ms: int | None = None
    running_ms: int | None = None
    end_ms: int | None = None


Result = tuple[Instance, list[str]]


def _require(
    instance: Instance, allowed: set[InstanceState] | frozenset[InstanceState], stimulus: str
) -> None:
    if instance.state not in allowed:
        raise InvalidTransition("task instance", instance.state, stimulus)


def wait_for_upstream(instance: Instance) -> Result:
    _require(instance, {S.SUBMITTED}, "wait_for_upstream")
    return dataclasses.replace(instance, state=S.PENDING), []


def make_runnable(instance: Instance) -> Result:
    _require(instance, {S.SUBMITTED, S.PENDING}, "make_runnable")
    return dataclasses.replace(instance, state=S.RUNNABLE), []


def hand_over(instance: Instance, env_id: str, now_ms: int) -> Result:
    """RUNNABLE → STARTING: the attempt was given to the environment's cluster to place."""
    _require(instance, {S.RUNNABLE}, "hand_over")
    return dataclasses.replace(
        instance,
        state=S.STARTING,
        attempt=instance.attempt + 1,
        env_id=env_id,
        node_id="",
        exit_code=None,
        launch_ms=now_ms,
        running_ms=None,
        end_ms=None,
        detail="",
    ), []


def requeue(instance: Instance) -> Result:
    """STARTING → RUNNABLE: batchd restarted before the attempt's command was reported running,
    so the attempt never happened as far as anyone saw (no event) and costs no retry."""
    _require(instance, {S.STARTING}, "requeue")
    return dataclasses.replace(
        instance,
        state=S.RUNNABLE,
        attempt=instance.attempt - 1,
        launch_ms=None,
        reason="",
        detail="",
    ), []


def start_running(instance: Instance, node_id: str, now_ms: int) -> Result:
    """STARTING → RUNNING: the command was launched on `node_id`."""
    _require(instance, {S.STARTING}, "start_running")
    updated = dataclasses.replace(
        instance, state=S.RUNNING, node_id=node_id, running_ms=now_ms, reason="", detail=""
    )
    return updated, ["TASK_INSTANCE_RUNNING"]


def note_waiting(instance: Instance, reason: str, detail: str) -> Instance:
    """Record why an instance is still waiting (no state change, no event)."""
    return dataclasses.replace(instance, reason=reason, detail=detail)


def succeed(instance: Instance, exit_code: int, now_ms: int) -> Result:
    _require(instance, {S.STARTING, S.RUNNING}, "succeed")
    updated = dataclasses.replace(
        instance, state=S.SUCCEED, exit_code=exit_code, reason="", detail="", end_ms=now_ms
    )
    return updated, ["TASK_INSTANCE_SUCCEED"]


def fail_attempt(
    instance: Instance,
    *,
    exit_code: int | None,
    reason: str,
    detail: str,
    max_retry_count: int,
    failed_action: FailedAction,
    now_ms: int,
) -> Result:
    """An attempt failed: retry while attempts ≤ MaxRetryCount, then apply FailedAction."""
    _require(instance, {S.STARTING, S.RUNNING}, "fail_attempt")
    failed = dataclasses.replace(
        instance, exit_code=exit_code, reason=reason, detail=detail, end_ms=now_ms
    )
    if instance.attempt <= max_retry_count:
        # A retried attempt fires nothing; StateReason keeps the cause until the next launch.
        return dataclasses.replace(failed, state=S.RUNNABLE), []
    if failed_action is FailedAction.TERMINATE:
        return dataclasses.replace(failed, state=S.FAILED), ["TASK_INSTANCE_FAILED"]
    return (
        dataclasses.replace(failed, state=S.FAILED_INTERRUPTED),
        ["TASK_INSTANCE_FAILED_INTERRUPTED"],
    )


def fail(instance: Instance, reason: str, detail: str, now_ms: int) -> Result:
    """Any unsettled (or interrupted) instance → FAILED: termination, dependency, interruption."""
    if instance.state in (S.SUCCEED, S.FAILED):
        raise InvalidTransition("task instance", instance.state, "fail")
    updated = dataclasses.replace(
        instance, state=S.FAILED, reason=reason, detail=detail, end_ms=now_ms
    )
    return updated, ["TASK_INSTANCE_FAILED"]


def reset_for_retry(instance: Instance, now_ms: int) -> Result:
    """RetryJobs: a FAILED instance starts over as if it never ran."""
    _require(instance, {S.FAILED}, "reset_for_retry")
    return Instance(index=instance.index, create_ms=now_ms), []


def is_settled(instance: Instance) -> bool:
    return instance.state in SETTLED
