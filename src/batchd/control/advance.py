"""One job's step in a controller tick: runner outcomes, dependencies, hand-over, derivation.

Everything here runs inside the tick's unit of work: every state change and its events commit
together, and the backend is only told what to do after that commit (see Effects).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from batchd.compute.runner import InstanceResult
from batchd.control import spec as spec_builder
from batchd.control.effects import Effects
from batchd.control.notify import Notifier
from batchd.control.record import JobRecorder
from batchd.domain import instance as machine
from batchd.domain import task as rules
from batchd.domain.instance import Instance
from batchd.domain.job import Job, Task
from batchd.domain.states import SETTLED, FailedAction, InstanceState
from batchd.store.database import Tx
from batchd.store.repos import envs as env_repo
from batchd.store.repos import jobs as repo

S = InstanceState
Apply = Callable[[tuple[Instance, list[str]]], Instance]
UNSETTLED = [S.SUBMITTED, S.PENDING, S.RUNNABLE, S.STARTING, S.RUNNING]
IN_FLIGHT = (S.STARTING, S.RUNNING)


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
    ) -> None:
        self._tx = tx
        self._job = job
        self._now_ms = now_ms
        self._effects = effects
        self._env_view = env_view
        self._work_root = work_root
        self._recorder = JobRecorder(tx, notifier, job, now_ms)
        self._ran: set[int] = set()  # tasks with an instance that started its command this tick

    def run(self, outcomes: Mapping[str, list[Outcome]]) -> Job:
        conn = self._tx.conn
        job = self._job
        tasks = repo.tasks_of(conn, job.pk)
        by_name = {task.name: task for task in tasks}
        terminating = job.next_action == "TERMINATING"
        requested = repo.termination_requests(conn, job.pk)
        for position, task in enumerate(tasks):
            task = self._step_task(
                task, by_name, outcomes.get(task.name, []), terminating, requested
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
        live = {i.index: i for i in repo.instances_of(conn, task.pk, UNSETTLED)}
        interrupted = (
            {i.index: i for i in repo.instances_of(conn, task.pk, [S.FAILED_INTERRUPTED])}
            if terminating or requested
            else {}
        )
        changed: dict[int, Instance] = {}
        node_ids: set[str] = set()

        def apply(result: tuple[Instance, list[str]]) -> Instance:
            updated, names = result
            changed[updated.index] = updated
            live[updated.index] = updated
            if updated.node_id:
                node_ids.add(updated.node_id)
            if names:
                pending_events.append((updated, names))
            if updated.state is S.RUNNING:
                self._ran.add(task.pk)
            return updated

        pending_events: list[tuple[Instance, list[str]]] = []

        for outcome in outcomes:
            current = live.get(outcome.index)
            if (
                current is None
                or current.attempt != outcome.attempt
                or current.state not in IN_FLIGHT
            ):
                continue  # stale: an earlier attempt, already settled, or a repeated report
            self._apply_outcome(task, current, outcome, terminating, requested, apply)

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
            self._dependencies(task, by_name, live, apply)
            self._fast_interrupt(task, live, apply)
            self._hand_over(task, live, apply)

        # Save, then events in order: instances first, then the task.
        repo.save_instances(conn, task.pk, list(changed.values()))
        node_instance_ids = env_repo.instance_ids(conn, sorted(node_ids))
        for updated, names in pending_events:
            self._recorder.instance(task, updated, names, node_instance_ids)
        return self._derive_task(task)

    def _apply_outcome(
        self,
        task: Task,
        current: Instance,
        outcome: Outcome,
        terminating: bool,
        requested: set[tuple[int, int]],
        apply: Apply,
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
            repo.save_tails(
                self._tx.conn, task.pk, current.index, result.stdout_tail, result.stderr_tail
            )
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

    def _dependencies(
        self, task: Task, by_name: Mapping[str, Task], live: dict[int, Instance], apply: Apply
    ) -> None:
        waiting = [i for i in live.values() if i.state in (S.SUBMITTED, S.PENDING)]
        if not waiting:
            return
        upstream_names = [start for start, end in self._job.dependences if end == task.name]
        upstream = [
            rules.Upstream(
                state=by_name[name].state,
                any_instance_succeeded=repo.state_counts(self._tx.conn, by_name[name].pk).get(
                    S.SUCCEED, 0
                )
                > 0,
            )
            for name in upstream_names
        ]
        verdict = rules.readiness(self._job.depend_on, upstream)
        for current in waiting:
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

    def _fast_interrupt(self, task: Task, live: dict[int, Instance], apply: Apply) -> None:
        if task.failed_action is not FailedAction.FAST_INTERRUPT:
            return
        counts = repo.state_counts(self._tx.conn, task.pk)
        if not counts.get(S.FAILED_INTERRUPTED) and not any(
            i.state is S.FAILED_INTERRUPTED for i in live.values()
        ):
            return
        for current in list(live.values()):
            if current.state in (S.SUBMITTED, S.PENDING, S.RUNNABLE):
                apply(
                    machine.fail(
                        current,
                        "TASK_INTERRUPTED",
                        "another instance of the task was interrupted",
                        self._now_ms,
                    )
                )

    def _hand_over(self, task: Task, live: dict[int, Instance], apply: Apply) -> None:
        runnable = sorted(
            (i for i in live.values() if i.state is S.RUNNABLE), key=lambda i: i.index
        )
        starting = [i for i in live.values() if i.state is S.STARTING]
        view = self._env_view(task.env_id) if task.env_id else None
        if runnable:
            if view is None or not view.usable:
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
            in_flight = sum(1 for i in live.values() if i.state in IN_FLIGHT)
            room = len(runnable)
            if task.max_concurrent > 0:
                room = max(0, task.max_concurrent - in_flight)
            submitted_spec = repo.task_spec(self._tx.conn, task.pk) if room else {}
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
                starting.append(updated)
        if view is not None and starting and view.running_nodes == 0:
            # The most common complaint about batch services: work stuck with no reason.
            for current in starting:
                current = live[current.index]
                if current.state is S.STARTING and current.reason != "WAITING_FOR_COMPUTE_NODE":
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

    # --- derivation ----------------------------------------------------------------------------

    def _derive_task(self, task: Task) -> Task:
        counts = repo.state_counts(self._tx.conn, task.pk)
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
        self._recorder.task(updated, _events("TASK", task, updated), states)
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
        self._recorder.job_event(updated, _events("JOB", job, updated), states)
        updated = dataclasses.replace(updated, sequence=self._recorder.sequence)
        if updated != job:
            repo.save_job(self._tx.conn, updated)
        return updated


def _events(entity: str, before: Task | Job, after: Task | Job) -> list[str]:
    """RUNNING once per run when the first command starts, then the final state's event."""
    names = []
    if after.ever_running and not before.ever_running:
        names.append(f"{entity}_RUNNING")
    if after.state != before.state and after.state in SETTLED:
        names.append(f"{entity}_{after.state.value}")
    return names
