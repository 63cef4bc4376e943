"""Environments as Dask clusters that batchd starts and owns: an in-process scheduler per
environment, one Nanny-managed worker process per compute node, everything on loopback.

Dask places the work (each Dask task needs the one `slot` resource a node has): an attempt
alone, or a pack of attempts of one task when many are handed over at once (packing.py). Each
attempt reports its start and its end on the runner's event topic, which the in-process
scheduler hands to `_Reports`; every attempt is reported exactly once, by the first of: its own
report, a kill that stopped it before it started, the failure of its Dask task. batchd turns off
Dask's own re-running of tasks from lost workers: a lost worker fails the attempts it had not
reported, and batchd decides about retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import dask
from distributed import Client, Future, Nanny, Scheduler, wait
from distributed.diagnostics.plugin import SchedulerPlugin

from batchd.compute import pack, packing, registry, report
from batchd.compute.backend import ClusterEvents, NodeSize
from batchd.compute.instance import InstanceResult, InstanceSpec

log = logging.getLogger(__name__)

DASK_CONFIG = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.scheduler.worker-ttl": "15s",
    "distributed.worker.daemon": False,
    "distributed.admin.tick.limit": "10s",
    "distributed.deploy.lost-worker-timeout": "5s",
    # Its sampling runs on the worker's event loop, which also carries every attempt's reports.
    "distributed.worker.profile.enabled": False,
}
NODE_START_TIMEOUT = 60.0
GIB = 1024**3


class _Membership(SchedulerPlugin):
    """Forwards the scheduler's view of its workers, the source of node events."""

    def __init__(self, env_id: str, events: ClusterEvents) -> None:
        self._env_id = env_id
        self._events = events
        # The scheduler forgets a worker before it tells plugins that the worker left.
        self._names: dict[str, str] = {}

    def add_worker(self, scheduler: Scheduler, worker: str) -> None:
        name = str(scheduler.workers[worker].name)
        self._names[worker] = name
        self._events.node_joined(self._env_id, name, worker)

    def remove_worker(self, scheduler: Scheduler, worker: str, **kwargs: Any) -> None:
        name = self._names.pop(worker, "")
        self._events.node_left(self._env_id, name, worker)


class _Reports(SchedulerPlugin):
    """Hands the runners' reports to the backend as the scheduler receives them."""

    def __init__(self, on_report: Callable[[dict[str, Any]], None]) -> None:
        self._on_report = on_report

    def log_event(self, topic: str, msg: Any) -> None:
        if topic == report.TOPIC:
            self._on_report(msg)


@dataclass(eq=False)
class _Pack:
    """One Dask task: the attempts it runs, and those of them not reported yet."""

    pack_id: str  # its Dask key
    keys: tuple[str, ...]
    future: Future[list[dict[str, Any]]]
    unreported: set[str]


@dataclass
class _Env:
    scheduler: Scheduler
    client: Client
    nannies: dict[str, Nanny] = field(default_factory=dict)
    starting: dict[str, asyncio.Task[None]] = field(default_factory=dict)  # node id -> its start
    closed: bool = False
    live: dict[str, _Pack] = field(default_factory=dict)  # attempt key -> its pack, until reported
    stopped: dict[str, dict[str, str]] = field(default_factory=dict)  # what pack.STOPPED holds


class LocalDaskBackend:
    def __init__(self, events: ClusterEvents, host: str = "127.0.0.1") -> None:
        self._events = events
        self._host = host
        self._envs: dict[str, _Env] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._config = dask.config.set(DASK_CONFIG)

    async def open_env(self, env_id: str) -> None:
        if env_id in self._envs:
            return
        scheduler = Scheduler(
            host=self._host, port=0, dashboard=False, dashboard_address=f"{self._host}:0"
        )
        await scheduler
        scheduler.add_plugin(_Membership(env_id, self._events), name="batchd-membership")
        client = await Client(scheduler.address, asynchronous=True)
        env = _Env(scheduler=scheduler, client=client)
        # In-process scheduler: reports reach us without another hop through the client.
        scheduler.add_plugin(_Reports(partial(self._on_report, env)), name="batchd-reports")
        self._envs[env_id] = env

    def _on_report(self, env: _Env, message: dict[str, Any]) -> None:
        parsed = report.parse(message)
        if parsed is None or parsed.key not in env.live:
            return  # reported already (a kill or a lost worker came first), or not ours
        if parsed.state == report.RUNNING:
            self._events.instance_running(parsed.key, parsed.node_id, parsed.started_at)
        else:
            self._finish(env, parsed.key, parsed.result, parsed.error)

    def _finish(self, env: _Env, key: str, result: InstanceResult | None, error: str) -> None:
        """Report the end of attempt `key`, unless it was reported already."""
        owner = env.live.pop(key, None)
        if owner is None:
            return
        owner.unreported.discard(key)
        self._events.instance_finished(key, result, error)

    async def add_nodes(self, env_id: str, nodes: Sequence[NodeSize]) -> None:
        env = self._envs[env_id]
        for node in nodes:
            if node.node_id in env.nannies or node.node_id in env.starting:
                continue
            env.starting[node.node_id] = self._spawn(self._start_node(env_id, env, node))

    async def _start_node(self, env_id: str, env: _Env, node: NodeSize) -> None:
        nanny = Nanny(
            env.scheduler.address,
            name=node.node_id,
            nthreads=1,
            memory_limit=node.mem_gib * GIB,
            resources={"slot": 1},
            host=self._host,
            dashboard_address=f"{self._host}:0",
            silence_logs=logging.WARNING,
        )
        try:
            await asyncio.wait_for(nanny.start(), NODE_START_TIMEOUT)
        except Exception as error:
            env.starting.pop(node.node_id, None)
            with contextlib.suppress(Exception):
                await nanny.close()
            self._events.node_failed(env_id, node.node_id, f"{type(error).__name__}: {error}")
            return
        env.starting.pop(node.node_id, None)
        if env.closed:  # closed while this node started: nobody else would stop its worker
            await nanny.close(timeout=10)
            return
        env.nannies[node.node_id] = nanny

    async def remove_nodes(self, env_id: str, node_ids: Sequence[str]) -> None:
        env = self._envs.get(env_id)
        if env is None:
            return
        closing = [env.nannies.pop(node_id) for node_id in node_ids if node_id in env.nannies]
        await asyncio.gather(
            *(nanny.close(timeout=10) for nanny in closing), return_exceptions=True
        )
        # The scheduler may never have seen a worker that was still starting or already dead:
        # report every removed node as gone (a repeated report is ignored by the controller).
        for node_id in node_ids:
            self._events.node_left(env_id, node_id, "")

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
        await env.scheduler.close()

    def submit(self, env_id: str, specs: Sequence[InstanceSpec]) -> None:
        env = self._envs[env_id]
        workers = len(env.scheduler.workers) or len(env.nannies) + len(env.starting)
        for group in packing.plan(specs, workers):
            keys = tuple(spec.key for spec in group)
            pack_id = keys[0] if len(keys) == 1 else f"batchd-pack-{len(keys)}-{keys[0]}"
            future = env.client.submit(
                pack.run_pack,
                pack_id,
                tuple(group),
                key=pack_id,
                resources={"slot": 1},
                pure=False,
                retries=0,
            )
            owner = _Pack(pack_id, keys, future, set(keys))
            for key in keys:
                env.live[key] = owner
            self._spawn(self._await_pack(env, owner))

    async def _await_pack(self, env: _Env, owner: _Pack) -> None:
        try:
            await wait(owner.future)
            # The reports came before the end, over the same stream. The result (the reports
            # the pack could not send) stays on the worker unless some are missing; an error
            # is raised here.
            if owner.unreported or owner.future.status != "finished":
                unsent: list[dict[str, Any]] = await owner.future
                for message in unsent:
                    self._on_report(env, message)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # KilledWorker when the node died mid-pack, and the like
            for key in owner.keys:
                self._finish(env, key, None, f"{type(error).__name__}: {error}")
        else:
            for key in owner.keys:  # none, unless the runner lost a report on the way
                self._finish(env, key, None, "the attempt ended without a report")
        finally:
            owner.future.release()
            if env.stopped.pop(owner.pack_id, None) is not None:
                env.scheduler.set_metadata([pack.STOPPED], _copy(env.stopped))

    async def kill(self, env_id: str, key: str, reason: str) -> None:
        env = self._envs.get(env_id)
        owner = env.live.get(key) if env is not None else None
        if env is None or owner is None:
            return
        if len(owner.keys) > 1:
            # Noted before the workers are told: a pack that has not started yet reads this when
            # it starts; one that has started knows its attempts when the workers are told.
            env.stopped.setdefault(owner.pack_id, {})[key] = reason
            env.scheduler.set_metadata([pack.STOPPED, owner.pack_id, key], reason)
        # A running attempt is stopped where it runs and reports its own end. Any other will
        # never start (skipped in its pack, or its Dask task cancelled) and is reported here.
        answers = await env.client.run(registry.stop, key, reason, on_error="return")
        if any(answer == registry.RUNNING for answer in answers.values()):
            return
        self._finish(env, key, None, reason)
        if not owner.unreported and not owner.future.done():
            await env.client.cancel([owner.future])

    def describe_capacity(self, env_id: str) -> tuple[int, int]:
        env = self._envs.get(env_id)
        if env is None:
            return 0, 0
        workers = env.scheduler.workers.values()
        return len(workers), sum(1 for w in workers if not w.processing)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        for env_id in list(self._envs):
            await self.close_env(env_id)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._config.__exit__(None, None, None)


def _copy(stopped: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {pack_id: dict(keys) for pack_id, keys in stopped.items()}
