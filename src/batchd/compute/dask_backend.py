"""What batchd's Dask backends share: the environments' Dask clusters as batchd sees them, the
attempts handed over (alone, or packed several to a Dask task: packing.py), their reports, kills
and the attached external workers. Where the scheduler is, and where nodes come from, is each
backend's own: local.py (batchd's own clusters, in this process), existing.py (a scheduler batchd
does not run), managed.py (a Dask cluster manager).

Dask places the work (each Dask task needs the node resources a node has). Each attempt reports
its start and its end on the runner's event topic; every attempt is reported exactly once, by
the first of: its own report, a kill that stopped it before it started, the failure of its Dask
task. A lost worker fails the attempts it had not reported, and batchd decides about retries.

External workers: an operator may start `dask worker <scheduler address> --name NAME` against an
environment's scheduler. It lacks the node resource, so Dask places none of batchd's work on it,
until AttachInstances makes it a node: then it gets the resource (and answers to its node id,
which the runner reports and hands to commands). Detaching takes the resource back and stops the
attempts it was running; its process is the operator's and keeps running.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import itertools
import logging
from collections import Counter
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dask
from distributed import Client, Future, Nanny, Scheduler, wait

from batchd.compute import membership, node_hold, pack, packing, registry, report
from batchd.compute.backend import ClusterEvents
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


@dataclass(eq=False)
class Pack:
    """One Dask task: the attempts it runs, and those of them not reported yet."""

    pack_id: str  # its Dask key
    keys: tuple[str, ...]
    future: Future[list[dict[str, Any]]]
    unreported: set[str]
    work_dirs: dict[str, str] = field(default_factory=dict)  # attempt key -> its work dir
    ran_on: str = ""  # the node its attempts reported
    task: tuple[str, str] = ("", "")  # (job id, task name) of its attempts


@dataclass
class EnvState:
    """An open environment as its backend keeps it."""

    env_id: str
    scheduler: Scheduler | None  # in this process; None for a scheduler batchd does not run
    client: Client
    # LocalDaskBackend's own workers: node id -> its Nanny; node id -> its start under way.
    nannies: dict[str, Nanny] = field(default_factory=dict)
    starting: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    closed: bool = False
    live: dict[str, Pack] = field(default_factory=dict)  # attempt key -> its pack, until reported
    queued: Counter[tuple[str, str]] = field(default_factory=Counter)  # live, by (job, task)
    stopped: dict[str, dict[str, str]] = field(default_factory=dict)  # what pack.STOPPED holds
    attached: dict[str, str] = field(default_factory=dict)  # external worker name -> node id
    membership: membership.Membership | None = None
    leaving: set[str] = field(default_factory=set)  # addresses of workers replaced on purpose
    resources: dict[str, float] = field(default_factory=lambda: dict(NODE_RESOURCES))  # a node's
    claim: bool = False  # packs claim their run: a re-run of one by Dask does nothing (pack.py)
    # Ends every Dask key: unique to this process's life on a scheduler that outlives it, where
    # a requeued attempt must not meet the claims and stops of its earlier hand-over.
    key_suffix: str = ""


class DaskBackend(abc.ABC):
    """The shared part of the backends; each says where its scheduler and nodes are."""

    def __init__(
        self, events: ClusterEvents, node_start_timeout: float = NODE_START_TIMEOUT
    ) -> None:
        self._events = events
        self._node_start_timeout = node_start_timeout  # past it, the node's creation failed
        self._envs: dict[str, EnvState] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # For the schedulers and workers batchd creates in this process.
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

    def _on_report(self, env: EnvState, message: dict[str, Any]) -> None:
        for item in report.unbatch(message):
            self._on_one_report(env, item)

    def _on_one_report(self, env: EnvState, message: Mapping[str, Any]) -> None:
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

    def _finish(self, env: EnvState, key: str, result: InstanceResult | None, error: str) -> None:
        """Report the end of attempt `key`, unless it was reported already."""
        owner = env.live.pop(key, None)
        if owner is None:
            return
        owner.unreported.discard(key)
        env.queued[owner.task] -= 1
        if env.queued[owner.task] <= 0:
            del env.queued[owner.task]
        self._events.instance_finished(key, result, error)

    def attempts_in_flight(self) -> int:
        return sum(len(env.live) for env in self._envs.values())

    async def remove_nodes(self, env_id: str, node_ids: Sequence[str]) -> None:
        env = self._envs.get(env_id)
        if env is None:  # not open (its scheduler unreachable, say): nothing runs there for us
            for node_id in node_ids:
                self._events.node_left(env_id, node_id, "")
            return
        names = {node_id: name for name, node_id in env.attached.items()}
        await asyncio.gather(
            self._stop_nodes(env, [n for n in node_ids if n not in names]),
            *(self._detach(env_id, env, names[n]) for n in node_ids if n in names),
            return_exceptions=True,
        )
        # The scheduler may never have seen a worker that was still starting or already dead:
        # report every removed node as gone (a repeated report is ignored by the controller).
        for node_id in node_ids:
            self._events.node_left(env_id, node_id, "")

    def submit(self, env_id: str, specs: Sequence[InstanceSpec]) -> None:
        env = self._envs[env_id]
        workers = self._node_count(env)
        for group in packing.plan(specs, workers, env.queued):
            keys = tuple(spec.key for spec in group)
            pack_id = keys[0] if len(keys) == 1 else f"batchd-pack-{len(keys)}-{keys[0]}"
            pack_id += env.key_suffix
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
            task = (group[0].job_id, group[0].task_name)
            owner = Pack(pack_id, keys, future, set(keys), work_dirs, task=task)
            for key in keys:
                env.live[key] = owner
            env.queued[task] += len(keys)
            self._spawn(self._await_pack(env, owner))

    async def _await_pack(self, env: EnvState, owner: Pack) -> None:
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
        await self._after_pack(env, owner)

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

    # --- external workers (AttachInstances / DetachInstances) ---------------------------------

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
        self, env_id: str, env: EnvState, name: str, node_id: str, address: str = ""
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

    async def _detach(self, env_id: str, env: EnvState, name: str) -> None:
        """Stop giving an attached worker work and fail what it runs; its process keeps running:
        it is the operator's. It stays among the attached until then: the stops go to it."""
        try:
            address = self._address(env, name)
            if not address:
                return
            with contextlib.suppress(Exception):
                await env.client.run(
                    membership.release_worker, name, env.resources, workers=[address]
                )
            # Taken after the release: Dask places nothing more on it.
            on_it = await self._processing_on(env, address)
            for key in [key for key, owner in env.live.items() if owner.pack_id in on_it]:
                await self.kill(env_id, key, NODE_TERMINATED)
        finally:
            env.attached.pop(name, None)

    # --- what each backend asks of its scheduler ----------------------------------------------

    @abc.abstractmethod
    async def _open_env(self, env_id: str) -> None:
        """Start or connect to the environment's scheduler; register it in `_envs`."""

    @abc.abstractmethod
    async def close_env(self, env_id: str) -> None:
        """Stop what batchd started for the environment, and forget it."""

    @abc.abstractmethod
    async def _stop_nodes(self, env: EnvState, node_ids: Sequence[str]) -> None:
        """Stop the workers of nodes batchd started (attached ones are detached instead)."""

    @abc.abstractmethod
    async def _after_pack(self, env: EnvState, owner: Pack) -> None:
        """Called once a pack's Dask task is over and its attempts are reported."""

    @abc.abstractmethod
    def _node_count(self, env: EnvState) -> int:
        """Nodes that take batchd's work now, or are about to."""

    @abc.abstractmethod
    def _address(self, env: EnvState, name: str) -> str:
        """The address of the worker registered as `name`; "" when there is none."""

    @abc.abstractmethod
    async def _place_waiting_work(self, env: EnvState, address: str) -> None:
        """Have Dask place the work that waited for a node on the worker at `address`."""

    @abc.abstractmethod
    async def _processing_on(self, env: EnvState, address: str) -> set[str]:
        """The Dask keys the worker at `address` is running or has queued."""

    def _node_addresses(self, env: EnvState) -> list[str] | None:
        """The workers a stop goes to; None: every worker of the environment's scheduler."""
        return None

    @abc.abstractmethod
    async def _note_stopped(self, env: EnvState, pack_id: str, key: str, reason: str) -> None:
        """Note in the scheduler's metadata that `key` of `pack_id` must not start."""

    @abc.abstractmethod
    async def _forget_pack(self, env: EnvState, pack_id: str) -> None:
        """A pack is over: drop what the scheduler's metadata holds about it."""

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
