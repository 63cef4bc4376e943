"""Environments as Dask clusters that batchd starts and owns: an in-process scheduler per
environment, one Nanny-managed worker process per compute node, everything on loopback.

Dask places the work (each Dask task needs the `slot` and `batchd-node` resources a node has):
an attempt alone, or a pack of attempts of one task when many are handed over at once
(packing.py). Each attempt reports its start and its end on the runner's event topic, which the
in-process scheduler hands to `_Reports`; every attempt is reported exactly once, by the first
of: its own report, a kill that stopped it before it started, the failure of its Dask task.
batchd turns off Dask's own re-running of tasks from lost workers: a lost worker fails the
attempts it had not reported, and batchd decides about retries.

Restarting a node after an attempt (RestartComputeNode; TerminateTaskInstance in a named
environment): the attempt's worker is held while the attempt still occupies it (node_hold.py);
once its Dask task is over, a node whose worker is held gets a new worker process
(node_restart.py). The node stays RUNNING meanwhile: its worker leaving and coming back is no
membership change.

External workers: an operator may start `dask worker <scheduler address> --name NAME` against an
environment's scheduler. It lacks the `batchd-node` resource, so Dask places none of batchd's
work on it, until AttachInstances makes it a node: then it gets the resource (and answers to its
node id, which the runner reports and hands to commands). Detaching takes the resource back and
stops the attempts it was running; its process is the operator's and keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import dask
from distributed import Client, Future, Nanny, Scheduler, wait
from distributed.core import Status
from distributed.diagnostics.plugin import SchedulerPlugin

from batchd.compute import (
    membership,
    node_hold,
    node_restart,
    node_start,
    pack,
    packing,
    registry,
    report,
    runner,
)
from batchd.compute.backend import ClusterEvents, ExternalWorker, NodeSize
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
NODE_RESOURCE = membership.NODE_RESOURCE
NODE_RESOURCES = membership.NODE_RESOURCES
NODE_TERMINATED = "COMPUTE_NODE_TERMINATED"  # why a detached worker's attempts fail
_ORDER_SPAN = 2**40  # Dask tasks handed over in one process's life, at most (int64 priorities)


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
    work_dirs: dict[str, str] = field(default_factory=dict)  # attempt key -> its work dir
    ran_on: str = ""  # the node its attempts reported


@dataclass
class _Env:
    env_id: str
    scheduler: Scheduler | None  # in this process; None for a scheduler batchd does not run
    client: Client
    nannies: dict[str, Nanny] = field(default_factory=dict)
    starting: dict[str, asyncio.Task[None]] = field(default_factory=dict)  # node id -> its start
    closed: bool = False
    live: dict[str, _Pack] = field(default_factory=dict)  # attempt key -> its pack, until reported
    stopped: dict[str, dict[str, str]] = field(default_factory=dict)  # what pack.STOPPED holds
    attached: dict[str, str] = field(default_factory=dict)  # external worker name -> node id
    membership: membership.Membership | None = None
    leaving: set[str] = field(default_factory=set)  # addresses of workers replaced on purpose
    resources: dict[str, float] = field(default_factory=lambda: dict(NODE_RESOURCES))  # a node's
    claim: bool = False  # packs claim their run: a re-run of one by Dask does nothing (pack.py)


class LocalDaskBackend:
    def __init__(
        self,
        events: ClusterEvents,
        host: str = "127.0.0.1",
        node_start_timeout: float = NODE_START_TIMEOUT,
        scratch_dir: str | None = None,
    ) -> None:
        self._events = events
        self._host = host
        self._scratch_dir = scratch_dir  # the workers' own files; Dask's default is in /tmp
        self._node_start_timeout = node_start_timeout  # past it, the node's creation failed
        self._envs: dict[str, _Env] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._config = dask.config.set(DASK_CONFIG)
        self._opening = asyncio.Lock()  # requests open envs too: never two schedulers for one
        self._handed_over = itertools.count()  # Dask tasks submitted so far: their order

    async def open_env(self, env_id: str) -> None:
        if env_id in self._envs:
            return
        async with self._opening:
            if env_id in self._envs:
                return
            await self._open_env(env_id)

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
        env = _Env(
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

    def _on_report(self, env: _Env, message: dict[str, Any]) -> None:
        parsed = report.parse(message)
        if parsed is None or parsed.key not in env.live:
            return  # reported already (a kill or a lost worker came first), or not ours
        node_id = parsed.result.node_id if parsed.result is not None else parsed.node_id
        if node_id:
            env.live[parsed.key].ran_on = node_id
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

    async def _start_node(
        self, env_id: str, env: _Env, node: NodeSize, first_try: bool = True
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

    async def remove_nodes(self, env_id: str, node_ids: Sequence[str]) -> None:
        env = self._envs.get(env_id)
        if env is None:
            return
        closing = [env.nannies.pop(node_id) for node_id in node_ids if node_id in env.nannies]
        names = {node_id: name for name, node_id in env.attached.items()}
        await asyncio.gather(
            *(nanny.close(timeout=10) for nanny in closing),
            *(self._detach(env_id, env, names[n]) for n in node_ids if n in names),
            return_exceptions=True,
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
        await _scheduler(env).close()

    def submit(self, env_id: str, specs: Sequence[InstanceSpec]) -> None:
        env = self._envs[env_id]
        workers = self._node_count(env) or len(env.nannies) + len(env.starting)
        for group in packing.plan(specs, workers):
            keys = tuple(spec.key for spec in group)
            pack_id = keys[0] if len(keys) == 1 else f"batchd-pack-{len(keys)}-{keys[0]}"
            future = env.client.submit(
                pack.run_pack,
                pack_id,
                tuple(group),
                env.claim,
                key=pack_id,
                resources=dict(env.resources),
                pure=False,
                retries=0,
                priority=_dask_priority(group[0].priority, next(self._handed_over)),
            )
            work_dirs = {spec.key: spec.work_dir for spec in group}
            owner = _Pack(pack_id, keys, future, set(keys), work_dirs)
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
            await self._forget_pack(env, owner.pack_id)
        # The scheduler heard of a hold before it heard that the pack was over.
        if owner.ran_on in env.nannies and _held(env, owner.ran_on):
            await self._restart_node(env, owner.ran_on, owner.keys[0])

    async def _restart_node(self, env: _Env, node_id: str, after: str) -> None:
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

    async def kill(self, env_id: str, key: str, reason: str, restart_node: bool = False) -> None:
        env = self._envs.get(env_id)
        owner = env.live.get(key) if env is not None else None
        if env is None or owner is None:
            return
        if len(owner.keys) > 1:
            # Noted before the workers are told: a pack that has not started yet reads this when
            # it starts; one that has started knows its attempts when the workers are told.
            env.stopped.setdefault(owner.pack_id, {})[key] = reason
            await self._note_stopped(env, owner.pack_id, key, reason)
        # A running attempt is stopped where it runs and reports its own end. Any other will
        # never start (skipped in its pack, or its Dask task cancelled) and is reported here.
        stop = node_hold.stop_and_hold if restart_node else registry.stop
        answers = await env.client.run(
            stop, key, reason, on_error="return", workers=self._node_addresses(env)
        )
        if any(answer == registry.RUNNING for answer in answers.values()):
            return
        self._finish(env, key, None, reason)
        if not owner.unreported and not owner.future.done():
            await env.client.cancel([owner.future])

    async def read_logs(self, env_id: str, key: str) -> tuple[bytes, bytes] | None:
        """Read the tails straight from the work dir: the workers of this backend run on this
        machine and share its filesystem (a backend with remote workers would ask the worker)."""
        env = self._envs.get(env_id)
        owner = env.live.get(key) if env is not None else None
        work_dir = owner.work_dirs.get(key) if owner is not None else None
        if work_dir is None:
            return None
        return await asyncio.to_thread(runner.read_tails, work_dir)

    # --- external workers (AttachInstances / DetachInstances) ---------------------------------

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

    async def attach_workers(self, env_id: str, nodes: Sequence[tuple[str, str]]) -> None:
        env = self._envs.get(env_id)
        if env is None:
            for node_id, _ in nodes:
                self._events.node_failed(env_id, node_id, "the environment is not open")
            return
        for node_id, name in nodes:
            env.attached[name] = node_id
        await asyncio.gather(*(self._attach(env_id, env, name, node_id) for node_id, name in nodes))

    def _rejoined(self, env_id: str, name: str, node_id: str, address: str) -> None:
        env = self._envs.get(env_id)
        if env is not None:
            self._spawn(self._attach(env_id, env, name, node_id, address))

    async def _attach(
        self, env_id: str, env: _Env, name: str, node_id: str, address: str = ""
    ) -> None:
        """Give the worker the node resource, then report it joined under its node id."""
        address = address or self._address(env, name)
        error = f"worker {name} is no longer connected to the scheduler"
        if address:
            try:
                await env.client.run(
                    membership.take_as_node, node_id, env.resources, workers=[address]
                )
                await self._place_waiting_work(env, address)
            except Exception as failure:
                error = f"{type(failure).__name__}: {failure}"
            else:
                self._events.node_joined(env_id, node_id, address)
                return
        env.attached.pop(name, None)
        self._events.node_failed(env_id, node_id, error)

    async def _detach(self, env_id: str, env: _Env, name: str) -> None:
        """Stop giving an attached worker work and fail what it runs; its process keeps running:
        it is the operator's."""
        env.attached.pop(name, None)
        address = self._address(env, name)
        if not address:
            return
        with contextlib.suppress(Exception):
            await env.client.run(membership.release_worker, name, env.resources, workers=[address])
        # Taken after the release: Dask places nothing more on it.
        on_it = await self._processing_on(env, address)
        for key in [key for key, owner in env.live.items() if owner.pack_id in on_it]:
            await self.kill(env_id, key, NODE_TERMINATED)

    # --- what this backend asks of its in-process scheduler (existing.py asks a remote one) ---

    def _node_count(self, env: _Env) -> int:
        """Workers that take batchd's work now."""
        workers = _scheduler(env).workers.values()
        return sum(1 for w in workers if w.resources.get(NODE_RESOURCE))

    def _address(self, env: _Env, name: str) -> str:
        return node_restart.address_of(_scheduler(env), name)

    async def _place_waiting_work(self, env: _Env, address: str) -> None:
        membership.place_waiting_work(_scheduler(env), address)

    async def _processing_on(self, env: _Env, address: str) -> set[str]:
        worker = _scheduler(env).workers.get(address)
        return {str(ts.key) for ts in worker.processing} if worker is not None else set()

    def _node_addresses(self, env: _Env) -> list[str] | None:
        """The workers a stop goes to; None: every worker of the environment's scheduler."""
        return None

    async def _note_stopped(self, env: _Env, pack_id: str, key: str, reason: str) -> None:
        _scheduler(env).set_metadata([pack.STOPPED, pack_id, key], reason)

    async def _forget_pack(self, env: _Env, pack_id: str) -> None:
        if env.stopped.pop(pack_id, None) is not None:
            _scheduler(env).set_metadata([pack.STOPPED], _copy(env.stopped))

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


def _dask_priority(job_priority: int, order: int) -> int:
    """What Dask runs first: the job's Priority (0-100), then the order of hand-over (batch-api.md
    §4.1). A pack holds attempts of one job. Dask itself runs the tasks of a burst of
    submissions in no set order."""
    return job_priority * _ORDER_SPAN - order


def _scheduler(env: _Env) -> Scheduler:
    assert env.scheduler is not None, f"{env.env_id} has no scheduler in this process"
    return env.scheduler


def _held(env: _Env, name: str) -> bool:
    scheduler = _scheduler(env)
    worker = scheduler.workers.get(node_restart.address_of(scheduler, name))
    return worker is not None and worker.status == Status.closing_gracefully


def _copy(stopped: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {pack_id: dict(keys) for pack_id, keys in stopped.items()}
