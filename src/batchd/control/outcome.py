"""Attempt outcomes: what the backend reported about an attempt, and what that does to it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from batchd.compute.runner import InstanceResult
from batchd.control import nodes as node_steps
from batchd.control import spec as spec_builder
from batchd.control.effects import Kill
from batchd.control.handover import waiting_for_node
from batchd.control.step_context import Apply, StepContext
from batchd.domain import instance as machine
from batchd.domain.instance import Instance
from batchd.domain.job import Task
from batchd.domain.node import CREATION_FAILED_REASON
from batchd.domain.states import InstanceState
from batchd.store.database import Tx
from batchd.store.repos import instances as instance_repo
from batchd.store.repos import jobs as job_repo
from batchd.store.repos import tasks as task_repo

S = InstanceState


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the backend reported about one attempt."""

    index: int
    attempt: int
    running_on: str | None = None  # node id: the command was launched
    started_at: float | None = None
    result: InstanceResult | None = None
    error: str = ""  # the attempt ended without a result (node lost, cancelled)
    finished: bool = False


Outcomes = dict[str, dict[str, list[Outcome]]]  # job id -> task name -> reports, in order


def report_creation_failed(tx: Tx, failed: node_steps.CreationFailed, outcomes: Outcomes) -> bool:
    """Report the task's attempts that wait for a node (STARTING, bound for the failed
    environment) as ended by the failed creation; JobStep fails or requeues them per the job's
    StateIfCreateCvmFailed. Answers whether there were any."""
    jobs = job_repo.active_by_ids(tx.conn, [failed.job_id])
    task = task_repo.task_by_name(tx.conn, jobs[0].pk, failed.task_name) if jobs else None
    if task is None:
        return False
    waiting = [
        i
        for i in instance_repo.instances_where(tx.conn, task.pk, [InstanceState.STARTING])
        if i.env_id == failed.env_id
    ]
    for instance in waiting:
        outcomes[failed.job_id][task.name].append(
            Outcome(
                index=instance.index,
                attempt=instance.attempt,
                finished=True,
                error=CREATION_FAILED_REASON,
            )
        )
    return bool(waiting)


def apply_outcome(
    step: StepContext,
    task: Task,
    current: Instance,
    outcome: Outcome,
    terminating: bool,
    requested: set[tuple[int, int]],
    apply: Apply,
    tails: dict[int, tuple[bytes, bytes]],
) -> None:
    """Apply what the backend reported about the attempt `current` is on: its command started,
    it succeeded, or it failed (retried, given up, terminated, or its node never came)."""
    if outcome.running_on is not None and current.state is S.STARTING:
        started_ms = int((outcome.started_at or step.now_ms / 1000) * 1000)
        current = apply(machine.start_running(current, outcome.running_on, started_ms))
    if not outcome.finished:
        return
    result = outcome.result
    if current.state is S.STARTING and result is not None and result.started_at is not None:
        current = apply(
            machine.start_running(current, result.node_id, int(result.started_at * 1000))
        )
    if result is not None and result.node_id and not current.node_id:
        current = dataclasses.replace(current, node_id=result.node_id)
    if result is not None:
        tails[current.index] = (result.stdout_tail, result.stderr_tail)
    if result is not None and result.reason == "" and result.exit_code == 0:
        apply(machine.succeed(current, 0, step.now_ms))
        return
    if result is not None:
        exit_code, reason, detail = result.exit_code, result.reason, result.detail
    else:
        exit_code, reason = None, outcome.error or "COMPUTE_NODE_LOST"
        detail = "the compute node running the attempt was lost"
        if reason != "TERMINATED_BY_USER" and not reason.isupper():
            detail, reason = (
                f"the attempt ended without a result: {reason}",
                "COMPUTE_NODE_LOST",
            )
    if terminating or (task.pk, current.index) in requested or reason == "TERMINATED_BY_USER":
        apply(machine.fail(current, "TERMINATED_BY_USER", "terminated by the user", step.now_ms))
        instance_repo.clear_termination(step.conn, task.pk, current.index)
        return
    if reason == CREATION_FAILED_REASON and result is None and current.state is S.STARTING:
        _creation_failed(step, task, current, apply)
        return
    apply(
        machine.fail_attempt(
            current,
            exit_code=exit_code,
            reason=reason,
            detail=detail,
            max_retry_count=task.max_retry,
            failed_action=task.failed_action,
            now_ms=step.now_ms,
        )
    )


def _creation_failed(step: StepContext, task: Task, current: Instance, apply: Apply) -> None:
    """The node this waiting attempt was bound for could not be created (§4.6): FAILED
    counts it as a failed attempt, RUNNABLE puts the instance back to wait at no cost."""
    key = spec_builder.attempt_key(step.job.job_id, task.name, current.index, current.attempt)
    # It still sits in the cluster's queue: a replacement node would otherwise run it.
    step.effects.kill.append(Kill(current.env_id, key, CREATION_FAILED_REASON))
    view = step.env_view(task.env_id)
    if view is not None and view.if_creation_failed == "RUNNABLE":
        requeued, _ = machine.requeue(current)
        apply((machine.note_waiting(requeued, *waiting_for_node(view)), []))
        return
    apply(
        machine.fail_attempt(
            current,
            exit_code=None,
            reason=CREATION_FAILED_REASON,
            detail="the compute node for the attempt could not be created "
            "(StateIfCreateCvmFailed=FAILED); see DescribeTask for the retries left",
            max_retry_count=task.max_retry,
            failed_action=task.failed_action,
            now_ms=step.now_ms,
        )
    )
