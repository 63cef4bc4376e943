"""The task-instance state machine: every (state, stimulus) pair, and the events it fires."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from batchd.domain import instance as machine
from batchd.domain.instance import Instance, InvalidTransition
from batchd.domain.states import FailedAction, InstanceState

S = InstanceState
NOW = 1_000


def at(state: InstanceState, attempt: int = 1) -> Instance:
    return Instance(index=0, state=state, attempt=attempt)


STIMULI: dict[str, Callable[[Instance], tuple[Instance, list[str]]]] = {
    "wait_for_upstream": machine.wait_for_upstream,
    "make_runnable": machine.make_runnable,
    "hand_over": lambda i: machine.hand_over(i, "env-a", NOW),
    "start_running": lambda i: machine.start_running(i, "node-a", NOW),
    "succeed": lambda i: machine.succeed(i, 0, NOW),
    "fail_attempt": lambda i: machine.fail_attempt(
        i,
        exit_code=1,
        reason="EXIT_CODE_NON_ZERO",
        detail="",
        max_retry_count=0,
        failed_action=FailedAction.TERMINATE,
        now_ms=NOW,
    ),
    "fail": lambda i: machine.fail(i, "TERMINATED_BY_USER", "", NOW),
    "reset_for_retry": lambda i: machine.reset_for_retry(i, NOW),
    "requeue": machine.requeue,
}
ALLOWED: dict[str, set[InstanceState]] = {
    "wait_for_upstream": {S.SUBMITTED},
    "make_runnable": {S.SUBMITTED, S.PENDING},
    "hand_over": {S.RUNNABLE},
    "start_running": {S.STARTING},
    "succeed": {S.STARTING, S.RUNNING},
    "fail_attempt": {S.STARTING, S.RUNNING},
    "fail": set(S) - {S.SUCCEED, S.FAILED},
    "reset_for_retry": {S.FAILED},
    "requeue": {S.STARTING},
}


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("stimulus", list(STIMULI))
def test_every_state_and_stimulus(state: InstanceState, stimulus: str) -> None:
    if state in ALLOWED[stimulus]:
        STIMULI[stimulus](at(state))
    else:
        with pytest.raises(InvalidTransition):
            STIMULI[stimulus](at(state))


def test_a_launch_fires_running_and_a_success_fires_succeed() -> None:
    starting, events = machine.hand_over(at(S.RUNNABLE, attempt=0), "env-a", NOW)
    assert (starting.state, starting.attempt, events) == (S.STARTING, 1, [])
    running, events = machine.start_running(starting, "node-a", NOW + 5)
    assert (running.state, running.node_id, running.running_ms) == (S.RUNNING, "node-a", NOW + 5)
    assert events == ["TASK_INSTANCE_RUNNING"]
    done, events = machine.succeed(running, 0, NOW + 9)
    assert (done.state, done.exit_code, done.end_ms, events) == (
        S.SUCCEED,
        0,
        NOW + 9,
        ["TASK_INSTANCE_SUCCEED"],
    )


@pytest.mark.parametrize(
    ("attempt", "max_retry", "action", "state", "events"),
    [
        (1, 2, FailedAction.TERMINATE, S.RUNNABLE, []),
        (3, 2, FailedAction.TERMINATE, S.FAILED, ["TASK_INSTANCE_FAILED"]),
        (1, 0, FailedAction.INTERRUPT, S.FAILED_INTERRUPTED, ["TASK_INSTANCE_FAILED_INTERRUPTED"]),
        (
            1,
            0,
            FailedAction.FAST_INTERRUPT,
            S.FAILED_INTERRUPTED,
            ["TASK_INSTANCE_FAILED_INTERRUPTED"],
        ),
    ],
)
def test_failed_attempts_retry_then_apply_failed_action(
    attempt: int,
    max_retry: int,
    action: FailedAction,
    state: InstanceState,
    events: list[str],
) -> None:
    failed, fired = machine.fail_attempt(
        at(S.RUNNING, attempt),
        exit_code=3,
        reason="EXIT_CODE_NON_ZERO",
        detail="exit 3",
        max_retry_count=max_retry,
        failed_action=action,
        now_ms=NOW,
    )
    assert (failed.state, fired) == (state, events)
    assert (failed.exit_code, failed.reason) == (3, "EXIT_CODE_NON_ZERO")


def test_retry_jobs_resets_history() -> None:
    failed = dataclasses.replace(at(S.FAILED, attempt=3), exit_code=1, reason="X", node_id="n")
    reset, events = machine.reset_for_retry(failed, NOW)
    assert reset == Instance(index=0, create_ms=NOW)
    assert events == []


def test_a_requeued_attempt_costs_no_retry_and_fires_nothing() -> None:
    starting, _ = machine.hand_over(at(S.RUNNABLE, attempt=0), "env-a", NOW)
    requeued, names = machine.requeue(starting)
    assert (requeued.state, requeued.attempt, names) == (S.RUNNABLE, 0, [])
    again, _ = machine.hand_over(requeued, "env-a", NOW)
    assert again.attempt == 1
