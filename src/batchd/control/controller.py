"""The controller loop: woken by submissions, backend reports and requests, never by a timer.

Each wake-up runs one unit of work that applies every report received since the last one and
steps every active job and environment; its transitions and their events commit together. What
the backend must then do (start nodes, hand over attempts, kill) runs only after that commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from pathlib import Path

from batchd.compute.backend import ComputeBackend, NodeSize
from batchd.compute.runner import InstanceResult
from batchd.control import nodes as node_steps
from batchd.control import spec as spec_builder
from batchd.control.advance import EnvView, JobStep, Outcome
from batchd.control.effects import Effects
from batchd.control.notify import Notifier
from batchd.domain.instance import InvalidTransition
from batchd.domain.states import NodeState
from batchd.mq.context import Context
from batchd.mq.signals import Signal
from batchd.store.database import Tx
from batchd.store.repos import envs as env_repo
from batchd.store.repos import jobs as job_repo

log = logging.getLogger(__name__)


class Controller:
    """Owns the job graph, retries, termination and states; the backend only runs attempts."""

    def __init__(self, ctx: Context, notifier: Notifier, work_root: Path) -> None:
        self._ctx = ctx
        self._notifier = notifier
        self._work_root = work_root
        self.backend: ComputeBackend | None = None
        self._signal = Signal()
        self._outcomes: dict[str, dict[str, list[Outcome]]] = defaultdict(lambda: defaultdict(list))
        self._membership: list[node_steps.Membership] = []
        self._effects: asyncio.Queue[Effects] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.ticks = 0

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
        self.wake()

    # --- loop --------------------------------------------------------------------------------

    def wake(self) -> None:
        self._signal.fire()

    def submit_effects(self, effects: Effects) -> None:
        """Backend work decided outside a tick (by a request), run after its commit."""
        self._effects.put_nowait(effects)

    def start(self, backend: ComputeBackend) -> None:
        self.backend = backend
        self._tasks = [
            asyncio.create_task(self._run(), name="batchd-controller"),
            asyncio.create_task(self._carry_out(), name="batchd-effects"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _run(self) -> None:
        await self._recover()
        while True:
            seen = self._signal.version
            try:
                await self.tick()
            except Exception:
                log.exception("controller tick failed", extra={"event": "tick_failed"})
                await asyncio.sleep(1)  # a failing database: back off, then try again
                continue
            await self._signal.wait(seen, 3600)

    async def tick(self) -> None:
        outcomes, self._outcomes = self._outcomes, defaultdict(lambda: defaultdict(list))
        membership, self._membership = self._membership, []
        now_ms = self._ctx.now_ms()

        def work(tx: Tx) -> Effects:
            return self._tick(tx, outcomes, membership, now_ms)

        try:
            effects = await self._ctx.db.write(work)
        except Exception:
            # Nothing of the tick committed: keep the reports for the next attempt.
            for job_id, by_task in outcomes.items():
                for task_name, items in by_task.items():
                    self._outcomes[job_id][task_name][:0] = items
            self._membership[:0] = membership
            raise
        self.ticks += 1
        if effects:
            self._effects.put_nowait(effects)

    def _tick(
        self,
        tx: Tx,
        outcomes: dict[str, dict[str, list[Outcome]]],
        membership: list[node_steps.Membership],
        now_ms: int,
    ) -> Effects:
        effects = Effects()
        for item in membership:
            node_steps.apply_membership(tx, self._notifier, item, now_ms, effects)
        envs = {env.env_id: env for env in env_repo.all_envs(tx.conn)}
        views: dict[str, EnvView] = {}
        for env in envs.values():
            node_steps.step_env(tx, self._notifier, env, now_ms, effects)
            running = (
                sum(1 for n in env_repo.nodes_of(tx.conn, env) if n.state is NodeState.RUNNING)
                if env.env_id in envs
                else 0
            )
            views[env.env_id] = EnvView(env.env_id, running, usable=not env.deleting)
        for job in job_repo.active(tx.conn):
            step = JobStep(tx, self._notifier, job, now_ms, effects, views.get, self._work_root)
            submitted, killed = len(effects.submit), len(effects.kill)
            try:
                # One job that cannot be stepped must not stop every other job.
                with tx.conn.begin_nested():
                    step.run(outcomes.get(job.job_id, {}))
            except InvalidTransition:
                del effects.submit[submitted:], effects.kill[killed:]
                log.exception(
                    "job %s could not be stepped",
                    job.job_id,
                    extra={"event": "job_step_failed", "job_id": job.job_id},
                )
        if env_repo.retire_finished_anonymous(tx.conn):
            tx.after_commit(self.wake)  # the next tick tears them down
        return effects

    async def _recover(self) -> None:
        """After a restart: attempts that were in flight are lost; nodes are started again."""
        now_ms = self._ctx.now_ms()

        def work(tx: Tx) -> tuple[Effects, list[tuple[str, str, Outcome]]]:
            lost = []
            for job_pk, task_pk, index in job_repo.in_flight(tx.conn):
                job = job_repo.by_pk(tx.conn, job_pk)
                instance = job_repo.instance_at(tx.conn, task_pk, index)
                task = next(t for t in job_repo.tasks_of(tx.conn, job_pk) if t.pk == task_pk)
                if instance is not None:
                    lost.append(
                        (
                            job.job_id,
                            task.name,
                            Outcome(
                                index=index,
                                attempt=instance.attempt,
                                finished=True,
                                error="COMPUTE_NODE_LOST",
                            ),
                        )
                    )
            effects = Effects()
            for env in env_repo.all_envs(tx.conn):
                effects.open_envs.append(env.env_id)
                for node in env_repo.nodes_of(tx.conn, env):
                    if node_steps.restart(tx, self._notifier, env, node, now_ms):
                        effects.add_nodes.setdefault(env.env_id, []).append(
                            NodeSize(node.node_id, node.cpu, node.mem_gib)
                        )
            return effects, lost

        effects, lost = await self._ctx.db.write(work)
        for job_id, task_name, outcome in lost:
            self._outcomes[job_id][task_name].append(outcome)
        self._effects.put_nowait(effects)

    async def _carry_out(self) -> None:
        while True:
            effects = await self._effects.get()
            backend = self.backend
            assert backend is not None
            try:
                for env_id in effects.open_envs:
                    await backend.open_env(env_id)
                for env_id, sizes in effects.add_nodes.items():
                    await backend.open_env(env_id)
                    await backend.add_nodes(env_id, sizes)
                for env_id, spec in effects.submit:
                    await backend.open_env(env_id)
                    backend.submit(env_id, spec)
                for env_id, key, reason in effects.kill:
                    await backend.kill(env_id, key, reason)
                for env_id, node_ids in effects.remove_nodes.items():
                    await backend.remove_nodes(env_id, node_ids)
                for env_id in effects.close_envs:
                    await backend.close_env(env_id)
            except Exception:
                log.exception("compute backend failed", extra={"event": "backend_failed"})
