"""One job's step in a controller tick: runner outcomes, dependencies, hand-over, derivation.

Everything here runs inside the tick's unit of work: every state change and its events commit
together, and the backend is only told what to do after that commit (see Effects).

A step reads only what it may change: the instances its outcomes name, and the waiting ones only
when the task's state counts say there are some to move (dependencies, hand-over, interruption,
notes); the counts come from one SQL aggregate and are kept up to date in memory. Only a job
being terminated reads all its unsettled instances.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from batchd.compute.runner import InstanceResult
from batchd.control import spec as spec_builder
from batchd.control.effects import Effects
from batchd.control.notify import Notifier
from batchd.control.record import JobRecorder
from batchd.domain import instance as machine
from batchd.domain import task as rules
from batchd.domain.instance import Instance
from batchd.domain.job import Job, Task
from batchd.domain.node import CREATION_FAILED_REASON
from batchd.domain.states import FINAL, SETTLED, FailedAction, InstanceState
from batchd.store.database import Conn, Tx
from batchd.store.repos import envs as env_repo
from batchd.store.repos import jobs as repo

S = InstanceState
Apply = Callable[[tuple[Instance, list[str]]], Instance]
UNSETTLED = [S.SUBMITTED, S.PENDING, S.RUNNABLE, S.STARTING, S.RUNNING]
IN_FLIGHT = [S.STARTING, S.RUNNING]


class Load(Protocol):
    def __call__(
        self, states: list[InstanceState], *, not_reason: str | None = ..., limit: int | None = ...
    ) -> None: ...


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


@dataclass
class EnvView:
    """What hand-over needs to know about an environment this tick."""

    env_id: str
    running_nodes: int
    usable: bool
    failed_creations: int = 0  # node creations that failed so far
    coming_nodes: int = 0  # nodes requested, starting or abnormal: they may yet run work
    if_creation_failed: str = ""  # anonymous envs: the job's StateIfCreateCvmFailed


@dataclass(frozen=True, slots=True)
class JobData:
    """What a tick reads about a job in bulk, for all the jobs it steps at once."""

    tasks: list[Task]  # in position order
    counts: dict[int, dict[InstanceState, int]]  # task key -> instance state -> how many
    requested: set[tuple[int, int]]  # (task key, index): termination asked, not yet done
    specs: Mapping[int, str]  # task key -> the task as submitted (JSON text)

    @staticmethod
    def load(conn: Conn, job: Job) -> JobData:
        by_job, specs = repo.tasks_of_jobs(conn, [job.pk])
        return JobData(
            tasks=by_job[job.pk],
            counts=repo.state_counts_of_jobs(conn, by_job),
            requested=repo.termination_requests_of(conn, [job.pk])[job.pk],
            specs=specs,
        )


class JobStep:
    def __init__(
        self,
        tx: Tx,
        notifier: Notifier,
        job: Job,
        now_ms: int,
        effects: Effects,
        env_view: Callable[[str], EnvView | None],
        work_root: Path,
        node_instance_ids: Callable[[Conn, Sequence[str]], Mapping[str, str]] = (
            env_repo.instance_ids
        ),
    ) -> None:
        self._tx = tx
        self._node_instance_ids = node_instance_ids
        self._job = job
        self._now_ms = now_ms
        self._effects = effects
        self._env_view = env_view
        self._work_root = work_root
        self._recorder = JobRecorder(tx, notifier, job, now_ms)
        self._ran: set[int] = set()  # tasks with an instance that started its command this tick
        # TASK_RUNNING / JOB_RUNNING already recorded this tick, right after the first instance
        # RUNNING event, so that they precede any final event of the same tick.
        self._announced: set[str] = set()
        self._counts: dict[int, dict[InstanceState, int]] = {}
        self._specs: Mapping[int, str] = {}
        self.anonymous_ended = False  # a task with its own environment ended: retire it

    def run(self, outcomes: Mapping[str, list[Outcome]], data: JobData | None = None) -> Job:
        job = self._job
        data = data or JobData.load(self._tx.conn, job)
        tasks = list(data.tasks)
        self._counts = {task.pk: dict(data.counts.get(task.pk, {})) for task in tasks}
        self._specs = data.specs
        by_name = {task.name: task for task in tasks}
        terminating = job.next_action == "TERMINATING"
        for position in _upstream_first(tasks, job.dependences):
            task = self._step_task(
                tasks[position],
                by_name,
                outcomes.get(tasks[position].name, []),
                terminating,
                data.requested,
            )
            tasks[position] = task
            by_name[task.name] = task
        return self._derive_job(tasks, terminating)

    # --- per task ----------------------------------------------------------------------------

    def _step_task(
        self,
        task: Task,
        by_name: Mapping[str, Task],
        outcomes: list[Outcome],
        terminating: bool,
        requested: set[tuple[int, int]],
    ) -> Task:
        conn = self._tx.conn
        counts = self._counts[task.pk]
        # Termination looks at every unsettled instance; otherwise only the reported ones are
        # read now, and waiting ones later if the counts say something can happen to them.
        complete = terminating or any(task_pk == task.pk for task_pk, _ in requested)
        if complete:
            live = {i.index: i for i in repo.instances_where(conn, task.pk, UNSETTLED)}
            interrupted = {
                i.index: i for i in repo.instances_where(conn, task.pk, [S.FAILED_INTERRUPTED])
            }
        else:
            indexes = sorted({outcome.index for outcome in outcomes})
            live = {
                i.index: i for i in repo.instances_where(conn, task.pk, IN_FLIGHT, indexes=indexes)
            }
            interrupted = {}
        known = {**interrupted, **live}  # every instance read, in its latest version
        changed: dict[int, Instance] = {}
        node_ids: set[str] = set()
        tails: dict[int, tuple[bytes, bytes]] = {}

        def apply(result: tuple[Instance, list[str]]) -> Instance:
            updated, names = result
            before = known[updated.index]
            if before.state is not updated.state:
                counts[before.state] -= 1
                counts[updated.state] = counts.get(updated.state, 0) + 1
            known[updated.index] = updated
            changed[updated.index] = updated
            live[updated.index] = updated
            if updated.node_id:
                node_ids.add(updated.node_id)
            if names:
                pending_events.append((updated, names))
            if updated.state is S.RUNNING:
                self._ran.add(task.pk)
            return updated

        def load(
            states: list[InstanceState], *, not_reason: str | None = None, limit: int | None = None
        ) -> None:
            """Read more of the task's instances; those already read keep their new version."""
            have = sum(1 for i in known.values() if i.state in states)
            if complete or have >= sum(counts.get(state, 0) for state in states):
                return  # every instance in these states was read already
            for found in repo.instances_where(
                conn, task.pk, states, not_reason=not_reason, limit=limit
            ):
                if found.index not in known:
                    known[found.index] = live[found.index] = found

        pending_events: list[tuple[Instance, list[str]]] = []

        for outcome in outcomes:
            current = live.get(outcome.index)
            if (
                current is None
                or current.attempt != outcome.attempt
                or current.state not in IN_FLIGHT
            ):
                continue  # stale: an earlier attempt, already settled, or a repeated report
            self._apply_outcome(task, current, outcome, terminating, requested, apply, tails)

        # Termination: everything unsettled fails; in-flight attempts are killed first.
        for index, current in list(live.items()):
            if not (terminating or (task.pk, index) in requested):
                continue
            if current.state in IN_FLIGHT:
                key = spec_builder.attempt_key(self._job.job_id, task.name, index, current.attempt)
                self._effects.kill.append((current.env_id, key, "TERMINATED_BY_USER"))
            elif current.state not in SETTLED:
                apply(
                    machine.fail(
                        current, "TERMINATED_BY_USER", "terminated by the user", self._now_ms
                    )
                )
                repo.clear_termination(conn, task.pk, index)
        for index, current in interrupted.items():
            if terminating or (task.pk, index) in requested:
                apply(
                    machine.fail(
                        current, "TERMINATED_BY_USER", "terminated by the user", self._now_ms
                    )
                )
                repo.clear_termination(conn, task.pk, index)

        if not terminating:
            self._dependencies(task, by_name, live, apply, load)
            self._fast_interrupt(task, live, apply, load)
            self._hand_over(task, live, apply, load, len(known))

        # Save, then events in order: instances first, then the task.
        repo.save_instances(conn, task.pk, list(changed.values()), tails)
        node_instance_ids = self._node_instance_ids(conn, sorted(node_ids)) if node_ids else {}
        for updated, names in pending_events:
            self._recorder.instance(task, updated, names, node_instance_ids)
            if "TASK_INSTANCE_RUNNING" in names:
                self._announce_running(task, by_name)
        return self._derive_task(task)

    def _announce_running(self, task: Task, by_name: Mapping[str, Task]) -> None:
        """The first command of a task (and of the job) started: TASK_RUNNING and JOB_RUNNING
        come now, before whatever else this tick records (an attempt may also have ended)."""
        if not task.ever_running and task.name not in self._announced:
            self._announced.add(task.name)
            running = dataclasses.replace(task, state=S.RUNNING, ever_running=True)
            states = [state for state, n in self._counts[task.pk].items() for _ in range(n)]
            self._recorder.task(running, ["TASK_RUNNING"], states)
        job = self._job
        if not job.ever_running and "" not in self._announced:
            self._announced.add("")
            task_states = [
                S.RUNNING if other.name == task.name else other.state for other in by_name.values()
            ]
            running_job = dataclasses.replace(job, state=S.RUNNING, ever_running=True)
            self._recorder.job_event(running_job, ["JOB_RUNNING"], task_states)

    def _apply_outcome(
        self,
        task: Task,
        current: Instance,
        outcome: Outcome,
        terminating: bool,
        requested: set[tuple[int, int]],
        apply: Apply,
        tails: dict[int, tuple[bytes, bytes]],
    ) -> None:
        if outcome.running_on is not None and current.state is S.STARTING:
            started_ms = int((outcome.started_at or self._now_ms / 1000) * 1000)
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
            apply(machine.succeed(current, 0, self._now_ms))
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
            apply(
                machine.fail(current, "TERMINATED_BY_USER", "terminated by the user", self._now_ms)
            )
            repo.clear_termination(self._tx.conn, task.pk, current.index)
            return
        if reason == CREATION_FAILED_REASON and result is None and current.state is S.STARTING:
            self._creation_failed(task, current, apply)
            return
        apply(
            machine.fail_attempt(
                current,
                exit_code=exit_code,
                reason=reason,
                detail=detail,
                max_retry_count=task.max_retry,
                failed_action=task.failed_action,
                now_ms=self._now_ms,
            )
        )

    def _creation_failed(self, task: Task, current: Instance, apply: Apply) -> None:
        """The node this waiting attempt was bound for could not be created (§4.6): FAILED
        counts it as a failed attempt, RUNNABLE puts the instance back to wait at no cost."""
        key = spec_builder.attempt_key(self._job.job_id, task.name, current.index, current.attempt)
        # It still sits in the cluster's queue: a replacement node would otherwise run it.
        self._effects.kill.append((current.env_id, key, CREATION_FAILED_REASON))
        view = self._env_view(task.env_id)
        if view is not None and view.if_creation_failed == "RUNNABLE":
            requeued, _ = machine.requeue(current)
            apply((machine.note_waiting(requeued, *_waiting_for_node(view)), []))
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
                now_ms=self._now_ms,
            )
        )

    def _dependencies(
        self,
        task: Task,
        by_name: Mapping[str, Task],
        live: dict[int, Instance],
        apply: Apply,
        load: Load,
    ) -> None:
        counts = self._counts[task.pk]
        if not (counts.get(S.SUBMITTED) or counts.get(S.PENDING)):
            return
        upstream_names = [start for start, end in self._job.dependences if end == task.name]
        upstream = [
            rules.Upstream(
                state=by_name[name].state,
                any_instance_succeeded=self._counts[by_name[name].pk].get(S.SUCCEED, 0) > 0,
            )
            for name in upstream_names
        ]
        verdict = rules.readiness(self._job.depend_on, upstream)
        if verdict is None and not counts.get(S.SUBMITTED):
            return  # all of them wait for upstream already
        load([S.SUBMITTED, S.PENDING] if verdict is not None else [S.SUBMITTED])
        waiting = [i for i in live.values() if i.state in (S.SUBMITTED, S.PENDING)]
        for current in sorted(waiting, key=lambda i: i.index):
            if verdict is True:
                apply(machine.make_runnable(current))
            elif verdict is False:
                apply(
                    machine.fail(
                        current,
                        "DEPENDENCE_FAILED",
                        "an upstream task did not meet the dependency condition",
                        self._now_ms,
                    )
                )
            elif current.state is S.SUBMITTED:
                apply(machine.wait_for_upstream(current))

    def _fast_interrupt(
        self, task: Task, live: dict[int, Instance], apply: Apply, load: Load
    ) -> None:
        if task.failed_action is not FailedAction.FAST_INTERRUPT:
            return
        counts = self._counts[task.pk]
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
                        self._now_ms,
                    )
                )

    def _hand_over(
        self, task: Task, live: dict[int, Instance], apply: Apply, load: Load, read: int
    ) -> None:
        counts = self._counts[task.pk]
        view = self._env_view(task.env_id) if task.env_id else None
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
                self._without_node(task, view, live, apply, load)
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
                stored = self._specs.get(task.pk)
                submitted_spec = (
                    json.loads(stored) if stored else repo.task_spec(self._tx.conn, task.pk)
                )
                for current in runnable[:room]:
                    updated, names = machine.hand_over(current, view.env_id, self._now_ms)
                    apply((updated, names))
                    self._effects.submit.append(
                        (
                            view.env_id,
                            spec_builder.build(
                                self._job, task, updated, submitted_spec, self._work_root
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
        self, task: Task, view: EnvView, live: dict[int, Instance], apply: Apply, load: Load
    ) -> None:
        """RUNNABLE instances of a task whose own node could not be created: they wait for a
        replacement; with StateIfCreateCvmFailed=FAILED and none coming, they fail (no attempt
        could ever run)."""
        load([S.RUNNABLE])
        runnable = sorted(
            (i for i in live.values() if i.state is S.RUNNABLE), key=lambda i: i.index
        )
        give_up = view.if_creation_failed != "RUNNABLE" and not view.coming_nodes
        reason, detail = _waiting_for_node(view)
        for current in runnable:
            if give_up:
                apply(
                    machine.fail(
                        current,
                        CREATION_FAILED_REASON,
                        f"no compute node of {view.env_id} could be created and "
                        "ResourceMaxRetryCount allows no more replacements "
                        "(StateIfCreateCvmFailed=FAILED)",
                        self._now_ms,
                    )
                )
            elif (current.reason, current.detail) != (reason, detail):
                apply((machine.note_waiting(current, reason, detail), []))

    # --- derivation ----------------------------------------------------------------------------

    def _derive_task(self, task: Task) -> Task:
        counts = self._counts[task.pk]
        states = [state for state, n in counts.items() for _ in range(n)]
        ever_running = task.ever_running or task.pk in self._ran
        new_state = rules.derive(states, ever_running)
        if new_state == task.state and ever_running == task.ever_running:
            return task
        end_ms = self._now_ms if new_state in SETTLED else None
        updated = dataclasses.replace(
            task, state=new_state, ever_running=ever_running, end_ms=end_ms
        )
        repo.save_task(self._tx.conn, updated)
        names = _events("TASK", task, updated, announced=task.name in self._announced)
        self._recorder.task(updated, names, states)
        if task.anonymous and new_state in FINAL:
            self.anonymous_ended = True
        return updated

    def _derive_job(self, tasks: list[Task], terminating: bool) -> Job:
        job = self._job
        states = [task.state for task in tasks]
        ever_running = job.ever_running or any(t.ever_running for t in tasks)
        new_state = rules.derive(states, ever_running)
        reason = job.reason
        failed = [t for t in tasks if t.state in (S.FAILED, S.FAILED_INTERRUPTED)]
        if failed and not reason:
            reason = f"task {failed[0].name} failed"
        next_action = job.next_action
        if terminating and all(t.state in SETTLED for t in tasks):
            next_action = ""
        end_ms = (job.end_ms or self._now_ms) if new_state in SETTLED else None
        updated = dataclasses.replace(
            job,
            state=new_state,
            reason=reason,
            next_action=next_action,
            ever_running=ever_running,
            end_ms=end_ms,
        )
        names = _events("JOB", job, updated, announced="" in self._announced)
        self._recorder.job_event(updated, names, states)
        updated = dataclasses.replace(updated, sequence=self._recorder.sequence)
        if updated != job:
            repo.save_job(self._tx.conn, updated)
        return updated


def _waiting_for_node(view: EnvView) -> tuple[str, str]:
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


def _upstream_first(tasks: list[Task], dependences: Sequence[tuple[str, str]]) -> list[int]:
    """Positions of the tasks, each after the tasks it depends on (else in position order), so
    that one step sees an upstream task end and starts its downstream tasks."""
    position = {task.name: n for n, task in enumerate(tasks)}
    waiting_on = {n: 0 for n in range(len(tasks))}
    downstream: dict[int, list[int]] = {}
    for start, end in dependences:
        if start in position and end in position:
            waiting_on[position[end]] += 1
            downstream.setdefault(position[start], []).append(position[end])
    ready = [n for n, count in waiting_on.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        n = heapq.heappop(ready)
        order.append(n)
        for m in downstream.get(n, []):
            waiting_on[m] -= 1
            if waiting_on[m] == 0:
                heapq.heappush(ready, m)
    # SubmitJob refuses cycles; should one be stored anyway, its tasks still get stepped.
    stepped = set(order)
    return order + [n for n in range(len(tasks)) if n not in stepped]


def _events(
    entity: str, before: Task | Job, after: Task | Job, *, announced: bool = False
) -> list[str]:
    """RUNNING once per run when the first command starts (unless `announced` already), then
    the final state's event."""
    names = []
    if after.ever_running and not before.ever_running and not announced:
        names.append(f"{entity}_RUNNING")
    if after.state != before.state and after.state in SETTLED:
        names.append(f"{entity}_{after.state.value}")
    return names
