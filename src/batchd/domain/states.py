"""State names of jobs, tasks, task instances and compute nodes, spelled as the API spells them."""

from __future__ import annotations

from enum import StrEnum


class InstanceState(StrEnum):
    SUBMITTED = "SUBMITTED"
    PENDING = "PENDING"
    RUNNABLE = "RUNNABLE"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    SUCCEED = "SUCCEED"
    FAILED = "FAILED"
    FAILED_INTERRUPTED = "FAILED_INTERRUPTED"


# Tasks and jobs use the same names, derived from their instances and tasks.
TaskState = InstanceState
JobState = InstanceState

FINAL = frozenset({InstanceState.SUCCEED, InstanceState.FAILED})
# Done for scheduling: nothing more will run (FAILED_INTERRUPTED still holds its node).
SETTLED = FINAL | {InstanceState.FAILED_INTERRUPTED}
ACTIVE = frozenset(InstanceState) - SETTLED


class NodeState(StrEnum):
    SUBMITTED = "SUBMITTED"
    CREATING = "CREATING"
    CREATION_FAILED = "CREATION_FAILED"
    CREATED = "CREATED"
    RUNNING = "RUNNING"
    ABNORMAL = "ABNORMAL"
    DELETING = "DELETING"


class FailedAction(StrEnum):
    TERMINATE = "TERMINATE"
    INTERRUPT = "INTERRUPT"
    FAST_INTERRUPT = "FAST_INTERRUPT"


class DependOn(StrEnum):
    PRE_TASK_SUCCEED = "PRE_TASK_SUCCEED"
    PRE_TASK_AT_LEAST_PARTLY_SUCCEED = "PRE_TASK_AT_LEAST_PARTLY_SUCCEED"
    PRE_TASK_FINISHED = "PRE_TASK_FINISHED"


METRIC_NAMES: dict[InstanceState, str] = {
    InstanceState.SUBMITTED: "SubmittedCount",
    InstanceState.PENDING: "PendingCount",
    InstanceState.RUNNABLE: "RunnableCount",
    InstanceState.STARTING: "StartingCount",
    InstanceState.RUNNING: "RunningCount",
    InstanceState.SUCCEED: "SucceedCount",
    InstanceState.FAILED_INTERRUPTED: "FailedInterruptedCount",
    InstanceState.FAILED: "FailedCount",
}
