"""Environments as Dask clusters that batchd starts and owns: an in-process scheduler per
environment, one Nanny-managed worker process per compute node, everything on loopback.

Dask places the instances (each needs the one `slot` resource a node has). batchd turns off
Dask's own re-running of tasks from lost workers: a lost worker fails the attempt, and batchd
decides about retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dask
from distributed import Client, Future, Nanny, Scheduler
from distributed.diagnostics.plugin import SchedulerPlugin

from batchd.compute.backend import ClusterEvents, NodeSize
from batchd.compute.runner import InstanceResult, InstanceSpec, kill_instance, run_instance

log = logging.getLogger(__name__)

DASK_CONFIG = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.scheduler.worker-ttl": "15s",
    "distributed.worker.daemon": False,
    "distributed.admin.tick.limit": "10s",
    "distributed.deploy.lost-worker-timeout": "5s",
}
NODE_START_TIMEOUT = 60.0
RUNNER_TOPIC = "batchd-instance"
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


@dataclass
class _Env:
    scheduler: Scheduler
    client: Client
    nannies: dict[str, Nanny] = field(default_factory=dict)
    futures: dict[str, Future[InstanceResult]] = field(default_factory=dict)
    starting: set[str] = field(default_factory=set)


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
        client.subscribe_topic(RUNNER_TOPIC, self._on_runner_event)
        self._envs[env_id] = _Env(scheduler=scheduler, client=client)

    def _on_runner_event(self, event: tuple[float, dict[str, Any]]) -> None:
        _, message = event
        if message.get("state") == "running":
            self._events.instance_running(
                str(message["key"]), str(message["node_id"]), float(message["started_at"])
            )

    async def add_nodes(self, env_id: str, nodes: Sequence[NodeSize]) -> None:
        env = self._envs[env_id]
        for node in nodes:
            if node.node_id in env.nannies or node.node_id in env.starting:
                continue
            env.starting.add(node.node_id)
            self._spawn(self._start_node(env_id, env, node))

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
            env.starting.discard(node.node_id)
            with contextlib.suppress(Exception):
                await nanny.close()
            self._events.node_failed(env_id, node.node_id, f"{type(error).__name__}: {error}")
            return
        env.starting.discard(node.node_id)
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
        await asyncio.gather(
            *(n.close(timeout=10) for n in env.nannies.values()), return_exceptions=True
        )
        await env.client.close()
        await env.scheduler.close()

    def submit(self, env_id: str, spec: InstanceSpec) -> None:
        env = self._envs[env_id]
        future = env.client.submit(
            run_instance, spec, key=spec.key, resources={"slot": 1}, pure=False, retries=0
        )
        env.futures[spec.key] = future
        self._spawn(self._await_result(env, spec.key, future))

    async def _await_result(self, env: _Env, key: str, future: Future[InstanceResult]) -> None:
        try:
            result: InstanceResult = await future
        except asyncio.CancelledError:
            raise
        except Exception as error:  # KilledWorker when the node died mid-attempt, and the like
            if env.futures.pop(key, None) is not None:  # not cancelled (and reported) by kill()
                self._events.instance_finished(key, None, f"{type(error).__name__}: {error}")
        else:
            env.futures.pop(key, None)
            self._events.instance_finished(key, result, "")
        finally:
            future.release()

    async def kill(self, env_id: str, key: str, reason: str) -> None:
        env = self._envs.get(env_id)
        if env is None:
            return
        future = env.futures.get(key)
        if future is None:
            return
        # A running attempt is stopped where it runs and reports its own end. One that is only
        # queued on a worker (Dask assigns tasks that need a slot at once) is cancelled here and
        # reported once, by us: `_await_result` stays silent for futures no longer tracked.
        stopped = await env.client.run(kill_instance, key, reason, on_error="return")
        if any(value is True for value in stopped.values()):
            return
        env.futures.pop(key, None)
        await env.client.cancel([future])
        self._events.instance_finished(key, None, reason)

    def describe_capacity(self, env_id: str) -> tuple[int, int]:
        env = self._envs.get(env_id)
        if env is None:
            return 0, 0
        workers = env.scheduler.workers.values()
        return len(workers), sum(1 for w in workers if not w.processing)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for env_id in list(self._envs):
            await self.close_env(env_id)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._config.__exit__(None, None, None)
