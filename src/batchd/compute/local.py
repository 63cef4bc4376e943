"""Environments as Dask clusters that batchd starts and owns: an in-process scheduler per
environment, one Nanny-managed worker process per compute node, everything on loopback. The
runners' reports reach `_Reports` in the in-process scheduler without another hop. batchd turns
off Dask's own re-running of tasks from lost workers (DASK_CONFIG).

Restarting a node after an attempt (RestartComputeNode; TerminateTaskInstance in a named
environment): the attempt's worker is held while the attempt still occupies it (node_hold.py);
once its Dask task is over, a node whose worker is held gets a new worker process
(node_restart.py). The node stays RUNNING meanwhile: its worker leaving and coming back is no
membership change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from distributed import Client, Nanny, Scheduler
from distributed.core import Status
from distributed.diagnostics.plugin import SchedulerPlugin

from batchd.compute import membership, node_restart, node_start, pack, report, runner
from batchd.compute.backend import ClusterEvents, ExternalWorker, NodeSize
from batchd.compute.dask_backend import (
    GIB,
    NODE_RESOURCE,
    NODE_RESOURCES,
    NODE_START_TIMEOUT,
    DaskBackend,
    EnvState,
    Pack,
)

log = logging.getLogger(__name__)


class _Reports(SchedulerPlugin):
    """Hands the runners' reports to the backend as the scheduler receives them."""

    def __init__(self, on_report: Callable[[dict[str, Any]], None]) -> None:
        self._on_report = on_report

    def log_event(self, topic: str, msg: Any) -> None:
        if topic == report.TOPIC:
            self._on_report(msg)


class LocalDaskBackend(DaskBackend):
    def __init__(
        self,
        events: ClusterEvents,
        host: str = "127.0.0.1",
        node_start_timeout: float = NODE_START_TIMEOUT,
        scratch_dir: str | None = None,
    ) -> None:
        super().__init__(events, node_start_timeout)
        self._host = host
        self._scratch_dir = scratch_dir  # the workers' own files; Dask's default is in /tmp

    async def _open_env(self, env_id: str) -> None:
        scheduler = Scheduler(
            host=self._host, port=0, dashboard=False, dashboard_address=f"{self._host}:0"
        )
        await scheduler
        attached: dict[str, str] = {}
        leaving: set[str] = set()
        rejoined = partial(self._rejoined, env_id)
        members = membership.Membership(env_id, self._events, attached, rejoined, leaving)
        scheduler.add_plugin(members, name="batchd-membership")
        client = await Client(scheduler.address, asynchronous=True)
        env = EnvState(
            env_id,
            scheduler,
            client,
            attached=attached,
            membership=members,
            leaving=leaving,
        )
        # In-process scheduler: reports reach us without another hop through the client.
        scheduler.add_plugin(_Reports(partial(self._on_report, env)), name="batchd-reports")
        self._envs[env_id] = env

    async def add_nodes(self, env_id: str, nodes: Sequence[NodeSize]) -> None:
        env = self._envs[env_id]
        for node in nodes:
            if node.node_id in env.nannies or node.node_id in env.starting:
                continue
            env.starting[node.node_id] = self._spawn(self._start_node(env_id, env, node))

    async def _start_node(
        self, env_id: str, env: EnvState, node: NodeSize, first_try: bool = True
    ) -> None:
        nanny = Nanny(
            _scheduler(env).address,
            name=node.node_id,
            nthreads=node.cpu,  # the instance type's cores; `slot` runs one pack at a time
            memory_limit=node.mem_gib * GIB,
            resources=dict(NODE_RESOURCES),
            host=self._host,
            dashboard_address=f"{self._host}:0",
            silence_logs=logging.WARNING,
            preload=[node_start.__name__],
            local_directory=self._scratch_dir,
        )
        try:
            await asyncio.wait_for(nanny.start(), self._node_start_timeout)
        except Exception as error:
            env.starting.pop(node.node_id, None)
            with contextlib.suppress(Exception):
                await nanny.close()
            joined = env.membership is not None and node.node_id in env.membership.joined
            if joined and first_try and not env.closed:
                # The worker registered, then died before its Nanny heard from it: that Nanny
                # fails its start and closes instead of restarting the worker. Start the node
                # again (once), as a Nanny would have.
                retry = self._start_node(env_id, env, node, first_try=False)
                env.starting[node.node_id] = self._spawn(retry)
                return
            why = f"{type(error).__name__}: {error}"
            if isinstance(error, TimeoutError):  # says nothing by itself
                why = f"the worker did not start within {self._node_start_timeout} s"
            self._events.node_failed(env_id, node.node_id, why)
            return
        env.starting.pop(node.node_id, None)
        if env.closed:  # closed while this node started: nobody else would stop its worker
            await nanny.close(timeout=10)
            return
        env.nannies[node.node_id] = nanny

    async def _stop_nodes(self, env: EnvState, node_ids: Sequence[str]) -> None:
        closing = [env.nannies.pop(node_id) for node_id in node_ids if node_id in env.nannies]
        await asyncio.gather(*(nanny.close(timeout=10) for nanny in closing))

    async def close_env(self, env_id: str) -> None:
        env = self._envs.pop(env_id, None)
        if env is None:
            return
        env.closed = True
        # Nodes still starting stop themselves once started; their (non-daemon) worker
        # processes would otherwise outlive us and hold up the exit of this process.
        await asyncio.gather(*env.starting.values(), return_exceptions=True)
        await asyncio.gather(
            *(n.close(timeout=10) for n in env.nannies.values()), return_exceptions=True
        )
        await env.client.close()
        await _scheduler(env).close()

    async def _after_pack(self, env: EnvState, owner: Pack) -> None:
        # The scheduler heard of a hold before it heard that the pack was over.
        if owner.ran_on in env.nannies and _held(env, owner.ran_on):
            await self._restart_node(env, owner.ran_on, owner.keys[0])

    async def _restart_node(self, env: EnvState, node_id: str, after: str) -> None:
        """Replace the worker process of `node_id`, held after attempt `after`; a node whose
        worker does not come back is reported lost, as if it had died."""
        nanny = env.nannies[node_id]
        try:
            problem = await node_restart.restart(
                _scheduler(env), nanny, self._node_start_timeout, env.leaving
            )
        except Exception as error:  # closed meanwhile (scale-down, deletion), and the like
            problem = f"{type(error).__name__}: {error}"
        if env.closed or env.nannies.get(node_id) is not nanny:
            return  # removed meanwhile: that is its end, not a restart
        if problem:
            log.warning("compute node %s: restart after %s failed: %s", node_id, after, problem)
            self._events.node_left(env.env_id, node_id, "")
        else:
            log.info("compute node %s restarted after attempt %s", node_id, after)

    async def read_logs(self, env_id: str, key: str) -> tuple[bytes, bytes] | None:
        """Read the tails straight from the work dir: the workers of this backend run on this
        machine and share its filesystem (a backend with remote workers would ask the worker)."""
        env = self._envs.get(env_id)
        owner = env.live.get(key) if env is not None else None
        work_dir = owner.work_dirs.get(key) if owner is not None else None
        if work_dir is None:
            return None
        return await asyncio.to_thread(runner.read_tails, work_dir)

    def scheduler_address(self, env_id: str) -> str:
        env = self._envs.get(env_id)
        return str(_scheduler(env).address) if env is not None else ""

    async def external_workers(self, env_id: str) -> dict[str, ExternalWorker]:
        env = self._envs.get(env_id)
        if env is None:
            return {}
        found = {}
        for ws in _scheduler(env).workers.values():
            name = str(ws.name)
            # Nodes have the resource: batchd's own workers, and attached ones.
            if ws.resources.get(NODE_RESOURCE) or name in env.nannies or name in env.starting:
                continue
            if name in env.attached:
                continue
            mem_gib = max(1, int(ws.memory_limit or 0) // GIB)
            found[name] = ExternalWorker(name, ws.address, ws.nthreads, mem_gib)
        return found

    # --- what DaskBackend asks of the scheduler, in this process ---------------------------------

    def _node_count(self, env: EnvState) -> int:
        workers = _scheduler(env).workers.values()
        registered = sum(1 for w in workers if w.resources.get(NODE_RESOURCE))
        return registered or len(env.nannies) + len(env.starting)

    def _address(self, env: EnvState, name: str) -> str:
        return node_restart.address_of(_scheduler(env), name)

    async def _place_waiting_work(self, env: EnvState, address: str) -> None:
        membership.place_waiting_work(_scheduler(env), address)

    async def _processing_on(self, env: EnvState, address: str) -> set[str]:
        worker = _scheduler(env).workers.get(address)
        return {str(ts.key) for ts in worker.processing} if worker is not None else set()

    async def _note_stopped(self, env: EnvState, pack_id: str, key: str, reason: str) -> None:
        _scheduler(env).set_metadata([pack.STOPPED, pack_id, key], reason)

    async def _forget_pack(self, env: EnvState, pack_id: str) -> None:
        if env.stopped.pop(pack_id, None) is not None:
            _scheduler(env).set_metadata([pack.STOPPED], _copy(env.stopped))


def _scheduler(env: EnvState) -> Scheduler:
    assert env.scheduler is not None, f"{env.env_id} has no scheduler in this process"
    return env.scheduler


def _held(env: EnvState, name: str) -> bool:
    scheduler = _scheduler(env)
    worker = scheduler.workers.get(node_restart.address_of(scheduler, name))
    return worker is not None and worker.status == Status.closing_gracefully


def _copy(stopped: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {pack_id: dict(keys) for pack_id, keys in stopped.items()}
