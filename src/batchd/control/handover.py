"""A task's waiting instances in a job's step: dependencies, fast interruption, hand-over."""

from __future__ import annotations

import json
from collections.abc import Mapping

from batchd.control import spec as spec_builder
from batchd.control.env_pass import EnvView
from batchd.control.step_context import Apply, Load, StepContext
from batchd.domain import instance as machine
from batchd.domain import task as rules
from batchd.domain.instance import Instance
from batchd.domain.job import Task
from batchd.domain.node import CREATION_FAILED_REASON
from batchd.domain.states import FailedAction, InstanceState
from batchd.store.repos import envs as env_repo
from batchd.store.repos import tasks as task_repo

S = InstanceState


def apply_dependencies(
    step: StepContext,
    task: Task,
    by_name: Mapping[str, Task],
    counts_by_task: Mapping[int, dict[InstanceState, int]],
    live: dict[int, Instance],
    apply: Apply,
    load: Load,
) -> None:
    """Waiting instances go on (RUNNABLE), wait for upstream (PENDING) or fail, as the task's
    upstream tasks and the job's DependOn say."""
    counts = counts_by_task[task.pk]
    if not (counts.get(S.SUBMITTED) or counts.get(S.PENDING)):
        return
    upstream_names = [start for start, end in step.job.dependences if end == task.name]
    upstream = [
        rules.Upstream(
            state=by_name[name].state,
            any_instance_succeeded=counts_by_task[by_name[name].pk].get(S.SUCCEED, 0) > 0,
        )
        for name in upstream_names
    ]
    verdict = rules.readiness(step.job.depend_on, upstream)
    if verdict is None and not counts.get(S.SUBMITTED):
        return  # all of them wait for upstream already
    if verdict is True:
        _make_runnable(step, counts, live, apply, load)
        return
    load([S.SUBMITTED, S.PENDING] if verdict is not None else [S.SUBMITTED])
    waiting = [i for i in live.values() if i.state in (S.SUBMITTED, S.PENDING)]
    for current in sorted(waiting, key=lambda i: i.index):
        if verdict is False:
            apply(
                machine.fail(
                    current,
                    "DEPENDENCE_FAILED",
                    "an upstream task did not meet the dependency condition",
                    step.now_ms,
                )
            )
        elif current.state is S.SUBMITTED:
            apply(machine.wait_for_upstream(current))


def _make_runnable(
    step: StepContext,
    counts: dict[InstanceState, int],
    live: dict[int, Instance],
    apply: Apply,
    load: Load,
) -> None:
    """Waiting instances go on, by index, as many as the tick's quota lets: the nodes start on
    the first ones (handed over in this tick) while the next ticks move the rest on."""
    quota = step.quota
    room = min(quota.runnable_left, counts.get(S.SUBMITTED, 0) + counts.get(S.PENDING, 0))
    if room:
        load([S.SUBMITTED, S.PENDING], limit=room)
        waiting = [i for i in live.values() if i.state in (S.SUBMITTED, S.PENDING)]
        going_on = sorted(waiting, key=lambda i: i.index)[:room]
        for current in going_on:
            apply(machine.make_runnable(current))
        quota.runnable_left -= len(going_on)
    if counts.get(S.SUBMITTED) or counts.get(S.PENDING):
        quota.deferred.add(step.job.job_id)


def fast_interrupt(
    step: StepContext,
    task: Task,
    counts: dict[InstanceState, int],
    live: dict[int, Instance],
    apply: Apply,
    load: Load,
) -> None:
    """FAST_INTERRUPT: once an instance is interrupted, the waiting ones fail."""
    if task.failed_action is not FailedAction.FAST_INTERRUPT:
        return
    waiting = [S.SUBMITTED, S.PENDING, S.RUNNABLE]
    if not counts.get(S.FAILED_INTERRUPTED) or not any(counts.get(s) for s in waiting):
        return
    load(waiting)
    for current in sorted(live.values(), key=lambda i: i.index):
        if current.state in waiting:
            apply(
                machine.fail(
                    current,
                    "TASK_INTERRUPTED",
                    "another instance of the task was interrupted",
                    step.now_ms,
                )
            )


def hand_over(
    step: StepContext,
    task: Task,
    counts: dict[InstanceState, int],
    specs: Mapping[int, str],
    live: dict[int, Instance],
    apply: Apply,
    load: Load,
    read: int,
) -> None:
    """Runnable instances go to the backend, as many as the task may run at once, when its
    environment is usable; those that cannot go, or wait for a node, say why."""
    view = step.env_view(task.env_id) if task.env_id else None
    if counts.get(S.RUNNABLE):
        if view is None or not view.usable:
            load([S.RUNNABLE], not_reason="ENV_UNAVAILABLE")
            runnable = sorted(
                (i for i in live.values() if i.state is S.RUNNABLE), key=lambda i: i.index
            )
            for current in runnable:
                if current.reason != "ENV_UNAVAILABLE":
                    apply(
                        (
                            machine.note_waiting(
                                current,
                                "ENV_UNAVAILABLE",
                                f"compute environment {task.env_id or '(none)'} is not usable: "
                                "it was deleted or is being deleted",
                            ),
                            [],
                        )
                    )
            return
        if task.anonymous and view.failed_creations and not view.running_nodes:
            # Its node could not be created: hand nothing over until a node runs.
            _without_node(step, task, view, live, apply, load)
            return
        in_flight = counts.get(S.STARTING, 0) + counts.get(S.RUNNING, 0)
        room = counts[S.RUNNABLE]
        if task.max_concurrent > 0:
            room = min(room, max(0, task.max_concurrent - in_flight))
        if room:
            # The first `room` by index: among as many more rows as were read already (some
            # of those rows may have moved on in memory).
            load([S.RUNNABLE], limit=room + read)
            runnable = sorted(
                (i for i in live.values() if i.state is S.RUNNABLE), key=lambda i: i.index
            )
            stored = specs.get(task.pk)
            submitted_spec = (
                json.loads(stored) if stored else task_repo.task_spec(step.conn, task.pk)
            )
            env_inputs = () if task.anonymous else env_repo.input_mappings(step.conn, view.env_id)
            for current in runnable[:room]:
                updated, names = machine.hand_over(current, view.env_id, step.now_ms)
                apply((updated, names))
                step.effects.submit.append(
                    (
                        view.env_id,
                        spec_builder.build(
                            step.job, task, updated, submitted_spec, step.work_root, env_inputs
                        ),
                    )
                )
    if view is not None and view.running_nodes == 0 and counts.get(S.STARTING):
        # The most common complaint about batch services: work stuck with no reason.
        load([S.STARTING], not_reason="WAITING_FOR_COMPUTE_NODE")
        starting = sorted(
            (i for i in live.values() if i.state is S.STARTING), key=lambda i: i.index
        )
        for current in starting:
            if current.reason != "WAITING_FOR_COMPUTE_NODE":
                apply(
                    (
                        machine.note_waiting(
                            current,
                            "WAITING_FOR_COMPUTE_NODE",
                            f"no compute node of {view.env_id} is running; the attempt waits "
                            "for one (check DescribeComputeEnv for node states)",
                        ),
                        [],
                    )
                )


def _without_node(
    step: StepContext,
    task: Task,
    view: EnvView,
    live: dict[int, Instance],
    apply: Apply,
    load: Load,
) -> None:
    """RUNNABLE instances of a task whose own node could not be created: they wait for a
    replacement; with StateIfCreateCvmFailed=FAILED and none coming, they fail (no attempt
    could ever run)."""
    load([S.RUNNABLE])
    runnable = sorted((i for i in live.values() if i.state is S.RUNNABLE), key=lambda i: i.index)
    give_up = view.if_creation_failed != "RUNNABLE" and not view.coming_nodes
    reason, detail = waiting_for_node(view)
    for current in runnable:
        if give_up:
            apply(
                machine.fail(
                    current,
                    CREATION_FAILED_REASON,
                    f"no compute node of {view.env_id} could be created and "
                    "ResourceMaxRetryCount allows no more replacements "
                    "(StateIfCreateCvmFailed=FAILED)",
                    step.now_ms,
                )
            )
        elif (current.reason, current.detail) != (reason, detail):
            apply((machine.note_waiting(current, reason, detail), []))


def waiting_for_node(view: EnvView) -> tuple[str, str]:
    """StateReason and detail of an instance waiting after its node could not be created."""
    if view.coming_nodes:
        return CREATION_FAILED_REASON, (
            f"the compute node of {view.env_id} could not be created; the instance waits for a "
            "replacement node (Task.ResourceMaxRetryCount)"
        )
    return CREATION_FAILED_REASON, (
        f"no compute node of {view.env_id} could be created and Task.ResourceMaxRetryCount allows "
        "no more replacements; the instance waits (StateIfCreateCvmFailed=RUNNABLE): terminate "
        "the job and submit it again"
    )
