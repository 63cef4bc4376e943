"""One job's step in a controller tick: its tasks in dependency order, then their derived states.

Each task's step applies runner outcomes (see outcome), termination, then moves waiting
instances on (see handover); the task's and the job's states are derived from the instances.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from batchd.control import spec as spec_builder
from batchd.control.effects import Effects, Kill
from batchd.control.env_pass import EnvView
from batchd.control.handover import apply_dependencies, fast_interrupt, hand_over
from batchd.control.notify import Notifier
from batchd.control.outcome import Outcome, apply_outcome
from batchd.control.record import JobRecorder
from batchd.control.step_context import RUNNABLE_PER_TICK, StepContext, TickQuota
from batchd.domain import instance as machine
from batchd.domain import task as rules
from batchd.domain.instance import Instance
from batchd.domain.job import Job, Task
from batchd.domain.states import FINAL, SETTLED, InstanceState
from batchd.store.database import Conn, Tx
from batchd.store.repos import envs as env_repo
from batchd.store.repos import instances as instance_repo
from batchd.store.repos import jobs as job_repo
from batchd.store.repos import tasks as task_repo

S = InstanceState
UNSETTLED = [S.SUBMITTED, S.PENDING, S.RUNNABLE, S.STARTING, S.RUNNING]
IN_FLIGHT = [S.STARTING, S.RUNNING]


@dataclass(frozen=True, slots=True)
class JobData:
    """What a tick reads about a job in bulk, for all the jobs it steps at once."""

    tasks: list[Task]  # in position order
    counts: dict[int, dict[InstanceState, int]]  # task key -> instance state -> how many
    requested: set[tuple[int, int]]  # (task key, index): termination asked, not yet done
    specs: Mapping[int, str]  # task key -> the task as submitted (JSON text)

    @staticmethod
    def load(conn: Conn, job: Job) -> JobData:
        by_job, specs = task_repo.tasks_of_jobs(conn, [job.pk])
        return JobData(
            tasks=by_job[job.pk],
            counts=instance_repo.state_counts_of_jobs(conn, by_job),
            requested=instance_repo.termination_requests_of(conn, [job.pk])[job.pk],
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
        quota: TickQuota | None = None,
    ) -> None:
        self._context = StepContext(
            conn=tx.conn,
            job=job,
            now_ms=now_ms,
            effects=effects,
            env_view=env_view,
            work_root=work_root,
            quota=quota or TickQuota(RUNNABLE_PER_TICK),
        )
        self._node_instance_ids = node_instance_ids
        self._recorder = JobRecorder(tx, notifier, job, now_ms)
        self._ran: set[int] = set()  # tasks with an instance that started its command this tick
        # TASK_RUNNING / JOB_RUNNING already recorded this tick, right after the first instance
        # RUNNING event, so that they precede any final event of the same tick.
        self._announced: set[str] = set()
        self._counts: dict[int, dict[InstanceState, int]] = {}
        self._specs: Mapping[int, str] = {}
        self.anonymous_ended = False  # a task with its own environment ended: retire it

    def run(self, outcomes: Mapping[str, list[Outcome]], data: JobData | None = None) -> Job:
        job = self._context.job
        data = data or JobData.load(self._context.conn, job)
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
        conn = self._context.conn
        counts = self._counts[task.pk]
        # Termination looks at every unsettled instance; otherwise only the reported ones are
        # read now, and waiting ones later if the counts say something can happen to them.
        complete = terminating or any(task_pk == task.pk for task_pk, _ in requested)
        if complete:
            live = {i.index: i for i in instance_repo.instances_where(conn, task.pk, UNSETTLED)}
            interrupted = {
                i.index: i
                for i in instance_repo.instances_where(conn, task.pk, [S.FAILED_INTERRUPTED])
            }
        else:
            indexes = sorted({outcome.index for outcome in outcomes})
            live = {
                i.index: i
                for i in instance_repo.instances_where(conn, task.pk, IN_FLIGHT, indexes=indexes)
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
            for found in instance_repo.instances_where(
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
            apply_outcome(
                self._context, task, current, outcome, terminating, requested, apply, tails
            )

        # Termination: everything unsettled fails; in-flight attempts are killed first.
        for index, current in list(live.items()):
            if not (terminating or (task.pk, index) in requested):
                continue
            if current.state in IN_FLIGHT:
                key = spec_builder.attempt_key(
                    self._context.job.job_id, task.name, index, current.attempt
                )
                # TerminateTaskInstance in a named environment restarts the node (batch-api.md).
                restart = (task.pk, index) in requested and not task.anonymous
                self._context.effects.kill.append(
                    Kill(current.env_id, key, "TERMINATED_BY_USER", restart_node=restart)
                )
            elif current.state not in SETTLED:
                apply(
                    machine.fail(
                        current,
                        "TERMINATED_BY_USER",
                        "terminated by the user",
                        self._context.now_ms,
                    )
                )
                instance_repo.clear_termination(conn, task.pk, index)
        for index, current in interrupted.items():
            if terminating or (task.pk, index) in requested:
                apply(
                    machine.fail(
                        current,
                        "TERMINATED_BY_USER",
                        "terminated by the user",
                        self._context.now_ms,
                    )
                )
                instance_repo.clear_termination(conn, task.pk, index)

        if not terminating:
            apply_dependencies(self._context, task, by_name, self._counts, live, apply, load)
            fast_interrupt(self._context, task, counts, live, apply, load)
            hand_over(self._context, task, counts, self._specs, live, apply, load, len(known))

        # Save, then events in order: instances first, then the task.
        instance_repo.save_instances(conn, task.pk, list(changed.values()), tails)
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
        job = self._context.job
        if not job.ever_running and "" not in self._announced:
            self._announced.add("")
            task_states = [
                S.RUNNING if other.name == task.name else other.state for other in by_name.values()
            ]
            running_job = dataclasses.replace(job, state=S.RUNNING, ever_running=True)
            self._recorder.job_event(running_job, ["JOB_RUNNING"], task_states)

    # --- derivation ----------------------------------------------------------------------------

    def _derive_task(self, task: Task) -> Task:
        counts = self._counts[task.pk]
        states = [state for state, n in counts.items() for _ in range(n)]
        ever_running = task.ever_running or task.pk in self._ran
        new_state = rules.derive(states, ever_running)
        if new_state == task.state and ever_running == task.ever_running:
            return task
        end_ms = self._context.now_ms if new_state in SETTLED else None
        updated = dataclasses.replace(
            task, state=new_state, ever_running=ever_running, end_ms=end_ms
        )
        task_repo.save_task(self._context.conn, updated)
        names = _events("TASK", task, updated, announced=task.name in self._announced)
        self._recorder.task(updated, names, states)
        if task.anonymous and new_state in FINAL:
            self.anonymous_ended = True
        return updated

    def _derive_job(self, tasks: list[Task], terminating: bool) -> Job:
        job = self._context.job
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
        end_ms = (job.end_ms or self._context.now_ms) if new_state in SETTLED else None
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
            job_repo.save_job(self._context.conn, updated)
        return updated


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
