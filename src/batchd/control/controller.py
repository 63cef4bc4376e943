"""The controller loop: woken by submissions, backend reports and requests, never by a timer.

Each wake-up runs one unit of work that applies every report received since the last one and
steps only the jobs that something happened to: those named by reports, those the service marked
(submitted, termination or retry asked), and, when an environment's view changed (nodes came or
went, it is being deleted), the unfinished jobs with a task in it. After a start every unfinished
job is stepped once. Its transitions and their events commit together. A wake-up with more jobs
than fit in TICK_BUDGET_S (TICK_SLICE_S while requests wait for the writer) leaves the rest to
the next unit, which follows at once, or, when requests were waiting, after a pause as long as
the unit took: under a load of requests the controller takes about half of the writer. What the
backend must then do (start nodes, hand over attempts, kill) runs only after that commit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from batchd.compute.backend import ComputeBackend
from batchd.compute.runner import InstanceResult
from batchd.control import env_pass, execution, recovery
from batchd.control import nodes as node_steps
from batchd.control import spec as spec_builder
from batchd.control.advance import JobData, JobStep
from batchd.control.effects import Effects
from batchd.control.env_pass import EnvView
from batchd.control.notify import Notifier
from batchd.control.outcome import Outcome, Outcomes, report_creation_failed
from batchd.control.step_context import RUNNABLE_PER_TICK, TickQuota
from batchd.domain.instance import InvalidTransition
from batchd.domain.job import Job
from batchd.domain.zones import ZoneSources
from batchd.mq.context import Context
from batchd.mq.signals import Signal
from batchd.store.database import Conn, NotLeader, Tx
from batchd.store.repos import envs as env_repo
from batchd.store.repos import instances as instance_repo
from batchd.store.repos import jobs as job_repo
from batchd.store.repos import tasks as task_repo

log = logging.getLogger(__name__)

# A tick steps jobs for at most TICK_BUDGET_S, and for only TICK_SLICE_S when requests wait for
# the writer: the jobs left over are the first stepped by the next tick, which follows at once.
TICK_BUDGET_S = 0.02
TICK_SLICE_S = 0.005
FIRST_CHUNK, CHUNK = 4, 32  # jobs read in bulk at once: at first, and at most
# A wake-up this soon after the last tick ended waits for the rest of this span first: a burst
# of reports (many short attempts ending) then costs a few ticks instead of one per report,
# while a wake-up after a quiet moment, or when no attempt is still to report its end, is served
# at once. After a tick that took many reports, more are on their way: the next gathers longer
# (each tick costs a dozen statements and a commit, whatever it carries), while a lone report is
# still served within GATHER_S.
GATHER_S = 0.005
BUSY_GATHER_S, BUSY_REPORTS = 0.02, 4
NODE_IDS_KEPT = 10_000  # node id -> instance id pairs remembered (they never change)


def _outcomes() -> Outcomes:
    return defaultdict(lambda: defaultdict(list))


@dataclass
class _TickInput:
    """What a tick works on, taken from the controller when it starts."""

    outcomes: Outcomes
    membership: list[node_steps.Membership]
    dirty: list[str]  # job ids, in the order they were marked
    envs_changed: bool
    full_pass: bool


@dataclass
class _TickOutput:
    effects: Effects
    views: dict[str, EnvView | None]
    left: list[str] = field(default_factory=list)  # job ids the tick had no time for
    again: list[str] = field(default_factory=list)  # stepped, with waiting instances left over
    pause_s: float = 0.0  # cut short for waiting requests: leave them the writer this long
    due_ms: int | None = None  # when a requested node that waits is due (the env pass saw it)


class Controller:
    """Owns the job graph, retries, termination and states; the backend only runs attempts."""

    def __init__(
        self,
        ctx: Context,
        notifier: Notifier,
        work_root: Path,
        recreate_wait_scale: float = 1.0,
        zones: ZoneSources | None = None,
    ) -> None:
        self._ctx = ctx
        self.zones = zones or ZoneSources()  # where each zone's nodes come from
        self._notifier = notifier
        self._work_root = work_root
        self._recreate_wait_scale = recreate_wait_scale  # of the waits before node replacements
        self.backend: ComputeBackend | None = None
        self._signal = Signal()
        self._tasks: list[asyncio.Task[None]] = []
        self.ticks = 0
        self._reset()
        hub = ctx.db.hub
        hub.on("jobs", self.wake_jobs)
        hub.on("envs", self.wake)
        hub.on("remove_nodes", self._remove_nodes)
        hub.on_resync(self._step_everything)

    def _reset(self) -> None:
        """Nothing known: what a controller that starts leading begins with."""
        self._timer: asyncio.TimerHandle | None = None  # wakes the tick a waiting node is due
        self._timer_due_ms = 0
        self._outcomes: Outcomes = _outcomes()
        self._membership: list[node_steps.Membership] = []
        self._dirty: dict[str, None] = {}  # job ids to step, in the order they were marked
        self._envs_changed = True  # environments and nodes must be read again
        self._full_pass = True  # step every unfinished job: nothing is known after a start
        self._views: dict[str, EnvView | None] = {}  # as of the last read of the environments
        self._instance_ids: dict[str, str] = {}  # node id -> its instance id; writer thread only
        self._effects: asyncio.Queue[Effects] = asyncio.Queue()
        self._reports_taken = 0  # by the last tick
        self._pause_s = 0.0

    @property
    def running(self) -> bool:
        """Whether this replica's controller runs (it leads)."""
        return bool(self._tasks)

    async def zone_of(self, env_id: str) -> str:
        """The zone of an environment ("" when it is gone): where the backend finds its nodes."""

        def work(conn: Conn) -> str:
            env = env_repo.by_id(conn, env_id)
            return env.zone if env is not None else ""

        return await self._ctx.db.read(work)

    # --- ClusterEvents (called on the loop by the backend) -----------------------------------

    def node_joined(self, env_id: str, node_id: str, address: str) -> None:
        self._membership.append(node_steps.Membership(env_id, node_id, "joined", address))
        self.wake()

    def node_left(self, env_id: str, node_id: str, address: str) -> None:
        self._membership.append(node_steps.Membership(env_id, node_id, "left", address))
        self.wake()

    def node_failed(self, env_id: str, node_id: str, error: str) -> None:
        self._membership.append(node_steps.Membership(env_id, node_id, "failed", error=error))
        self.wake()

    def instance_running(self, key: str, node_id: str, started_at: float) -> None:
        self._add_outcome(key, running_on=node_id, started_at=started_at)

    def instance_finished(self, key: str, result: InstanceResult | None, error: str) -> None:
        self._add_outcome(key, result=result, error=error, finished=True)

    def _add_outcome(self, key: str, **fields: object) -> None:
        parsed = spec_builder.parse_key(key)
        if parsed is None:
            log.warning("ignoring a report about an unknown attempt %s", key)
            return
        job_id, task_name, index, attempt = parsed
        outcome = Outcome(index=index, attempt=attempt, **fields)  # type: ignore[arg-type]
        self._outcomes[job_id][task_name].append(outcome)
        self.wake_jobs(job_id)

    # --- loop --------------------------------------------------------------------------------

    def wake(self) -> None:
        """Environments or nodes may have changed: read them again in the next tick, and step
        the unfinished jobs of each environment whose view changed."""
        self._envs_changed = True
        self._signal.fire()

    def wake_jobs(self, *job_ids: str) -> None:
        """These jobs changed (submitted, termination or retry asked): step them next tick.
        A job that no one names is not stepped. Not leading, there is nothing to remember: a
        controller that starts steps every unfinished job."""
        if not self.running:
            return
        for job_id in job_ids:
            self._dirty[job_id] = None
        self._signal.fire()

    def _step_everything(self) -> None:
        """Wake-ups may have been missed: read every environment, step every unfinished job."""
        self._full_pass = self._envs_changed = True
        self._signal.fire()

    def _remove_nodes(self, env_id: str, *node_ids: str) -> None:
        """A request made these nodes DELETING (in any replica): stop their workers."""
        if self.running:
            self._effects.put_nowait(Effects(remove_nodes={env_id: list(node_ids)}))

    def start(self, backend: ComputeBackend) -> None:
        """Lead: recover what the last leader left, then step jobs until `stop`."""
        self._reset()
        self.backend = backend
        self._tasks = [
            asyncio.create_task(self._run(), name="batchd-controller"),
            asyncio.create_task(self._carry_out(), name="batchd-effects"),
        ]

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self.backend = None

    async def _run(self) -> None:
        await self._recover()
        while True:
            seen = self._signal.version
            try:
                await self.tick()
            except NotLeader:
                return  # the leadership stops this controller
            except Exception:
                log.exception("controller tick failed", extra={"event": "tick_failed"})
                await asyncio.sleep(1)  # a failing database: back off, then try again
                continue
            ended = time.monotonic()
            if self._pause_s:
                # Requests wait for the writer: they go first, the jobs left over wait their turn.
                await asyncio.sleep(self._pause_s)
            gather_s = BUSY_GATHER_S if self._reports_taken >= BUSY_REPORTS else GATHER_S
            await self._signal.wait(seen, 3600)
            since = time.monotonic() - ended
            if since < gather_s and self._reports_to_come():
                await asyncio.sleep(gather_s - since)

    def _reports_to_come(self) -> bool:
        """Whether some attempt handed over has not reported its end: else, gathering would
        only delay the tick (the last instance of a job has ended, say)."""
        return self.backend is None or self.backend.attempts_in_flight() > 0

    async def tick(self) -> None:
        taken = _TickInput(
            outcomes=self._outcomes,
            membership=self._membership,
            dirty=list(self._dirty),
            envs_changed=self._envs_changed or bool(self._membership),
            full_pass=self._full_pass,
        )
        self._outcomes, self._membership, self._dirty = _outcomes(), [], {}
        self._reports_taken = sum(
            len(items) for job in taken.outcomes.values() for items in job.values()
        )
        self._envs_changed = self._full_pass = False
        now_ms = self._ctx.now_ms()

        def work(tx: Tx) -> _TickOutput:
            return self._tick(tx, taken, now_ms)

        try:
            done = await self._ctx.db.write(work, leader_only=True)
        except Exception:
            # Nothing of the tick committed: keep everything it took for the next attempt.
            self._give_back(list(dict.fromkeys([*taken.dirty, *taken.outcomes])), taken.outcomes)
            self._membership[:0] = taken.membership
            self._envs_changed |= taken.envs_changed
            self._full_pass |= taken.full_pass
            raise
        self.ticks += 1
        self._views = done.views
        self._pause_s = done.pause_s
        if done.left:
            self._give_back(done.left, taken.outcomes)
            self._signal.fire()
        if done.again:
            self.wake_jobs(*done.again)
        if done.effects:
            self._effects.put_nowait(done.effects)
        if done.due_ms is not None:
            self._wake_at(done.due_ms)

    def _wake_at(self, due_ms: int) -> None:
        """A timer for the tick that must start a node requested to wait until `due_ms`."""
        if self._timer is not None and self._timer_due_ms <= due_ms:
            return  # an earlier wake-up is set; its tick sets the next one
        if self._timer is not None:
            self._timer.cancel()
        delay_s = max(0.0, (due_ms - self._ctx.now_ms()) / 1000)
        self._timer_due_ms = due_ms
        self._timer = asyncio.get_running_loop().call_later(delay_s, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        self.wake()

    def _give_back(self, job_ids: list[str], outcomes: Outcomes) -> None:
        """Jobs a tick took but did not step: first in line for the next one, reports kept."""
        self._dirty = {**dict.fromkeys(job_ids), **self._dirty}
        for job_id in job_ids:
            for task_name, items in outcomes.get(job_id, {}).items():
                self._outcomes[job_id][task_name][:0] = items

    def _tick(self, tx: Tx, taken: _TickInput, now_ms: int) -> _TickOutput:
        effects = Effects()
        hit: list[str] = []  # jobs whose waiting attempts a failed node creation hit
        for item in taken.membership:
            failed = node_steps.apply_membership(
                tx, self._notifier, item, now_ms, effects, self._recreate_wait_scale
            )
            if failed is not None and report_creation_failed(tx, failed, taken.outcomes):
                hit.append(failed.job_id)
        dirty = dict.fromkeys(job_repo.active_ids(tx.conn)) if taken.full_pass else {}
        dirty.update(dict.fromkeys(taken.dirty))
        dirty.update(dict.fromkeys(hit))
        views, changed, due_ms = dict(self._views), list[str](), None
        if taken.envs_changed or taken.full_pass:
            views, changed, due_ms = env_pass.step_envs(
                tx, self._notifier, now_ms, effects, self._views
            )
            # A job may wait for what its environment's view says (usable, nodes running).
            dirty.update(dict.fromkeys(job_repo.active_in_envs(tx.conn, changed)))

        def env_view(env_id: str) -> EnvView | None:
            if env_id not in views:  # not read since it was created: read it now
                views[env_id] = env_pass.view_of(tx, env_id)
            return views[env_id]

        pending = list(dirty)
        quota = TickQuota(RUNNABLE_PER_TICK)
        stepped: list[str] = []
        left: list[str] = []
        ended: set[str] = set()
        started = time.perf_counter()
        position, size = 0, FIRST_CHUNK
        while position < len(pending):
            chunk = pending[position : position + size]
            position += len(chunk)
            # Small first: when requests wait for the writer, a tick has time for few jobs.
            size = min(size * 2, CHUNK)
            not_stepped = self._step_jobs(
                tx, chunk, taken.outcomes, now_ms, effects, env_view, started, ended, quota
            )
            stepped += [job_id for job_id in chunk if job_id not in not_stepped]
            if not_stepped or self._out_of_time(started):
                left = not_stepped + pending[position:]
                break
        # Only a step that ended a task can make its own environment finished.
        retire = None if taken.full_pass else sorted(ended)
        if (retire is None or retire) and env_repo.retire_finished_anonymous(tx.conn, retire):
            tx.after_commit(self.wake)  # the next tick tears them down
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "tick stepped %d jobs, %d left for the next one",
                len(stepped),
                len(left),
                extra={"event": "tick", "job_ids": stepped, "env_ids": changed},
            )
        cut = bool(left) and self._ctx.db.waiting() > 0
        pause_s = time.perf_counter() - started if cut else 0.0
        return _TickOutput(effects, views, left, sorted(quota.deferred), pause_s, due_ms)

    def _out_of_time(self, started: float) -> bool:
        elapsed = time.perf_counter() - started
        return elapsed > TICK_BUDGET_S or (elapsed > TICK_SLICE_S and self._ctx.db.waiting() > 0)

    def _step_jobs(
        self,
        tx: Tx,
        job_ids: list[str],
        outcomes: Outcomes,
        now_ms: int,
        effects: Effects,
        env_view: Callable[[str], EnvView | None],
        started: float,
        ended: set[str],
        quota: TickQuota,
    ) -> list[str]:
        """Step these jobs (those still unfinished), reading what they need in bulk, until the
        tick is out of time; answers the ids of those it did not step. Adds to `ended` the jobs
        in which a task with its own environment ended; the steps share `quota`."""
        conn = tx.conn
        jobs = job_repo.active_by_ids(conn, job_ids)
        tasks, specs = task_repo.tasks_of_jobs(conn, [job.pk for job in jobs])
        counts = instance_repo.state_counts_of_jobs(conn, tasks)
        requested = instance_repo.termination_requests_of(conn, [job.pk for job in jobs])

        def step(job: Job) -> None:
            stepping = JobStep(
                tx,
                self._notifier,
                job,
                now_ms,
                effects,
                env_view,
                self._work_root,
                self._node_instance_ids,
                quota,
            )
            stepping.run(
                outcomes.get(job.job_id, {}),
                JobData(tasks[job.pk], counts, requested[job.pk], specs),
            )
            if stepping.anonymous_ended:
                ended.add(job.job_id)

        done = 0
        submitted, killed = len(effects.submit), len(effects.kill)
        try:
            # One savepoint for them all: one per job would cost two statements each.
            with conn.begin_nested():
                for job in jobs:
                    if done and self._out_of_time(started):
                        break
                    step(job)
                    done += 1
        except InvalidTransition:
            # Step them again, each in a savepoint of its own, to leave out only the job that
            # cannot be stepped: one such job must not stop every other job.
            del effects.submit[submitted:], effects.kill[killed:]
            done += 1
            for job in jobs[:done]:
                submitted, killed = len(effects.submit), len(effects.kill)
                ended.discard(job.job_id)
                try:
                    with conn.begin_nested():
                        step(job)
                except InvalidTransition:
                    del effects.submit[submitted:], effects.kill[killed:]
                    ended.discard(job.job_id)
                    log.exception(
                        "job %s could not be stepped",
                        job.job_id,
                        extra={"event": "job_step_failed", "job_id": job.job_id},
                    )
        return [job.job_id for job in jobs[done:]]

    def _node_instance_ids(self, conn: Conn, node_ids: Sequence[str]) -> dict[str, str]:
        missing = [node_id for node_id in node_ids if node_id not in self._instance_ids]
        if missing:
            if len(self._instance_ids) > NODE_IDS_KEPT:
                self._instance_ids.clear()
            self._instance_ids.update(env_repo.instance_ids(conn, missing))
        return {n: self._instance_ids[n] for n in node_ids if n in self._instance_ids}

    async def _recover(self) -> None:
        """After a restart: attempts that were in flight are lost; nodes are started again (see
        recovery). The first tick then steps every unfinished job."""
        now_ms = self._ctx.now_ms()

        def work(tx: Tx) -> recovery.Recovery:
            return recovery.recover(tx, self._notifier, now_ms)

        done = await self._ctx.db.write(work, leader_only=True)
        for job_id, task_name, outcome in done.lost:
            self._outcomes[job_id][task_name].append(outcome)
            self._dirty[job_id] = None
        for job_id in done.requeued_jobs:
            self._dirty[job_id] = None
        self._full_pass = True
        self._effects.put_nowait(done.effects)

    async def _carry_out(self) -> None:
        while True:
            effects = await self._effects.get()
            backend = self.backend
            assert backend is not None
            try:
                await execution.carry_out(backend, effects)
            except Exception:
                log.exception("compute backend failed", extra={"event": "backend_failed"})
