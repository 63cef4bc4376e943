"""Environments on a Dask scheduler that batchd does not run: the zones setting names its address
(domain/zones.py). The operator starts the workers against it, on any machine, and attaches them
to environments (AttachInstances); batchd starts no workers here and restarts none.

The bookkeeping of packs, reports, kills and attached workers is DaskBackend's; what differs is
where the scheduler is. What LocalDaskBackend's in-process plugins see comes here over the client:
the runners' reports on their event topic, and the workers' coming and going on a topic that a
small plugin, registered on the scheduler, writes. Environments share the scheduler, each with a
node resource of its own (membership.node_resources), so Dask places an environment's work only on
its own nodes. Dask re-runs the tasks of a lost worker elsewhere (the scheduler's
`allowed-failures`, which is the operator's): a pack claims its run, a re-run of it runs nothing
(pack.py), and batchd retries the attempts itself, once.

batchd must be installed where the scheduler runs (its plugin) and where the workers run (the
runner), and a work dir's path must be writable on the workers' machines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from functools import partial
from typing import Any

from distributed import Client, Scheduler, Worker
from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

from batchd.compute import membership, pack, registry, report, runner
from batchd.compute.backend import ClusterEvents, ExternalWorker, NodeSize
from batchd.compute.dask_backend import (
    GIB,
    NODE_RESOURCE,
    NODE_START_TIMEOUT,
    DaskBackend,
    EnvState,
    Pack,
)
from batchd.compute.instance import InstanceSpec

log = logging.getLogger(__name__)

MEMBERSHIP_TOPIC = "batchd-membership"
CONNECT_TIMEOUT = "10s"
RECONNECT_WAIT = 30.0  # s
CONNECTION_CHECK_S = 0.5  # how often each environment's client is looked at


class ForwardMembership(SchedulerPlugin):
    """Runs in the scheduler: tells batchd's clients of workers coming and going."""

    name = "batchd-membership-forward"

    def add_worker(self, scheduler: Scheduler, worker: str) -> None:
        name = str(scheduler.workers[worker].name)
        scheduler.log_event(MEMBERSHIP_TOPIC, {"joined": worker, "name": name})

    def remove_worker(self, scheduler: Scheduler, worker: str, **kwargs: Any) -> None:
        scheduler.log_event(MEMBERSHIP_TOPIC, {"left": worker})


class StopAttemptsOnClose(WorkerPlugin):
    """Runs in every worker of the scheduler: when the worker closes (it lost the scheduler, or
    its operator stopped it), what it runs for batchd stops at once. Dask would otherwise wait
    for the running task, up to 30 s, while batchd already retries its attempts elsewhere."""

    name = "batchd-stop-attempts-on-close"
    idempotent = True  # registered again by each environment: replacing it would tear it down

    def teardown(self, worker: Worker) -> None:
        stopped = registry.stop_all(pack.NODE_LOST)
        if stopped:
            log.warning("worker closing: stopped %d attempts", stopped)


class ExistingSchedulerBackend(DaskBackend):
    """Every environment of the zones that name the scheduler at `address`."""

    def __init__(
        self, events: ClusterEvents, address: str, node_start_timeout: float = NODE_START_TIMEOUT
    ) -> None:
        super().__init__(events, node_start_timeout=node_start_timeout)
        self._fixed_address = address
        self._where = f"the Dask scheduler at {address}"  # for messages
        self._addresses: dict[str, str] = {}  # env id -> the address of its scheduler
        self._names: dict[str, dict[str, str]] = {}  # env id -> worker address -> worker name
        self._streams: dict[str, object] = {}  # env id -> its client's stream to the scheduler
        # Packs whose worker was lost: their claims stay, for a re-run that starts late.
        self._lost_packs: set[str] = set()
        self._unreachable = ""  # why the scheduler could not be reached, the last time it failed
        self._next_try = 0.0  # monotonic time before which it is not tried again
        self._life = uuid.uuid4().hex[:8]  # ends the Dask keys of this process's hand-overs

    async def open_env(self, env_id: str) -> None:
        """Connect; an unreachable scheduler is logged, and tried again RECONNECT_WAIT later
        (each try blocks the hand-over of every environment's work for up to CONNECT_TIMEOUT)."""
        env = self._envs.get(env_id)
        if env is not None and self._connection_lost(env):
            self._drop(env)  # connect again (see _watch_connection)
        if env_id in self._envs or time.monotonic() < self._next_try:
            return
        try:
            await super().open_env(env_id)
        except Exception as error:  # unreachable, refused, or (a cluster manager) not started
            self._unreachable = f"{type(error).__name__}: {error}"
            self._next_try = time.monotonic() + RECONNECT_WAIT
            log.warning("cannot reach %s for %s: %s", self._where, env_id, self._unreachable)

    def _drop(self, env: EnvState) -> None:
        """Forget an environment whose client closed by itself. Its attempts count as lost (the
        next open stops what its nodes still run), its attached nodes as gone (to be attached
        again)."""
        log.warning("lost the connection to %s of %s", self._where, env.env_id)
        self._envs.pop(env.env_id, None)
        self._names.pop(env.env_id, None)
        self._addresses.pop(env.env_id, None)
        self._streams.pop(env.env_id, None)
        self._spawn(close_quietly(env.client))  # Dask may have reconnected it, to no topic
        env.closed = True
        for key in list(env.live):
            self._finish(env, key, None, pack.NODE_LOST)
        for node_id in list(env.attached.values()):
            self._events.node_left(env.env_id, node_id, "")

    async def _scheduler_for(self, env_id: str) -> str:
        """The address of the scheduler of `env_id`."""
        return self._fixed_address

    async def _open_env(self, env_id: str) -> None:
        address = await self._scheduler_for(env_id)
        client = await Client(address, asynchronous=True, timeout=CONNECT_TIMEOUT)
        try:
            await client.register_plugin(ForwardMembership(), name=ForwardMembership.name)
        except Exception:
            await client.close()
            raise
        try:
            await client.register_plugin(StopAttemptsOnClose(), name=StopAttemptsOnClose.name)
        except Exception as error:  # a worker without batchd: the scheduler keeps it for the rest
            log.warning("not every worker of %s took batchd's plugin: %s", self._where, error)
        attached: dict[str, str] = {}
        leaving: set[str] = set()
        rejoined = partial(self._rejoined, env_id)
        members = membership.Membership(env_id, self._events, attached, rejoined, leaving)
        env = EnvState(
            env_id,
            None,
            client,
            attached=attached,
            membership=members,
            leaving=leaving,
            resources=membership.node_resources(env_id),
            claim=True,
            key_suffix=f"@{self._life}",
        )
        names: dict[str, str] = {}
        self._names[env_id] = names
        self._addresses[env_id] = address
        self._envs[env_id] = env
        self._streams[env_id] = client.scheduler_comm
        self._spawn(self._watch_connection(env))
        client.subscribe_topic(report.TOPIC, partial(self._on_report_event, env))
        client.subscribe_topic(MEMBERSHIP_TOPIC, partial(self._on_membership, env, names))
        # Subscribed first: a worker joining meanwhile is heard of, maybe twice (no harm).
        for address, worker in (await _workers(client)).items():
            names[address] = str(worker["name"])
            members.worker_joined(names[address], address)
            if worker.get("resources", {}).get(_env_resource(env)):
                # A node of batchd's earlier life, which failed its attempts when it restarted
                # and asks for it to be attached again: what it still runs must stop.
                with contextlib.suppress(Exception):
                    await client.run(_retire_node, names[address], env.resources, workers=[address])

    async def _watch_connection(self, env: EnvState) -> None:
        """Drop the environment once its client loses the scheduler, even for a moment.

        Dask connects a client again to a scheduler that is back within CONNECT_TIMEOUT, but
        cancels its futures and subscribes it to no topic, and a restarted scheduler has lost
        batchd's plugin: reports and membership would never come again. So a lost connection
        is lost for good here too, and the next open connects afresh.
        """
        while self._envs.get(env.env_id) is env:
            if self._connection_lost(env):
                self._drop(env)
                return
            await asyncio.sleep(CONNECTION_CHECK_S)

    def _connection_lost(self, env: EnvState) -> bool:
        """Whether the client of `env` lost its scheduler since it connected."""
        client = env.client
        return client.status != "running" or client.scheduler_comm is not self._streams.get(
            env.env_id
        )

    def submit(self, env_id: str, specs: Sequence[InstanceSpec]) -> None:
        env = self._envs.get(env_id)
        why = f"cannot reach {self._where}: {self._unreachable}"
        if env is not None:
            try:
                super().submit(env_id, specs)
                return
            except Exception as error:  # the client closed meanwhile, and the like
                why = f"cannot hand over to {self._where}: {type(error).__name__}: {error}"
        for spec in specs:  # say so, rather than leave them waiting
            if env is None or spec.key not in env.live:
                self._events.instance_finished(spec.key, None, why)

    async def kill(self, env_id: str, key: str, reason: str, restart_node: bool = False) -> None:
        try:
            await super().kill(env_id, key, reason, restart_node)
        except Exception as error:  # unreachable: the attempt ends when its pack or node does
            log.warning("cannot stop %s on %s: %s", key, self._where, error)

    def _node_addresses(self, env: EnvState) -> list[str] | None:
        """Stops go to this environment's nodes, not to every worker of a shared scheduler."""
        names = self._names.get(env.env_id, {})
        return [address for address, name in names.items() if name in env.attached]

    def _on_report_event(self, env: EnvState, event: tuple[float, Any]) -> None:
        self._on_report(env, event[1])

    def _on_membership(
        self, env: EnvState, names: dict[str, str], event: tuple[float, Any]
    ) -> None:
        message = event[1]
        members = env.membership
        if members is None or not isinstance(message, dict):
            return
        if "joined" in message:
            names[str(message["joined"])] = str(message["name"])
            members.worker_joined(str(message["name"]), str(message["joined"]))
        elif "left" in message:
            address = str(message["left"])
            names.pop(address, None)
            node_id = members.node_of(address)
            if node_id:
                self._lost(env, node_id)
            members.worker_left(address)

    def _lost(self, env: EnvState, node_id: str) -> None:
        """The worker of `node_id` is gone: so are the attempts it had not reported. Dask may run
        their packs again elsewhere; such a re-run runs nothing, and this one never starts."""
        for owner in {owner for owner in env.live.values() if owner.ran_on == node_id}:
            self._lost_packs.add(owner.pack_id)
            for key in list(owner.unreported):
                self._finish(env, key, None, pack.NODE_LOST)
            self._spawn(_cancel(env.client, owner.future))

    async def add_nodes(self, env_id: str, nodes: Sequence[NodeSize]) -> None:
        # Refused at the API; reached by an environment created before the zone changed source.
        for node in nodes:
            self._events.node_failed(
                env_id,
                node.node_id,
                f"batchd starts no nodes on {self._where}: start workers there and attach "
                "them (AttachInstances)",
            )

    async def close_env(self, env_id: str) -> None:
        env = self._envs.pop(env_id, None)
        names = self._names.pop(env_id, {})
        self._addresses.pop(env_id, None)
        self._streams.pop(env_id, None)
        if env is None:
            return
        env.closed = True
        # The workers outlive batchd: what they run for this environment must stop with it
        # (its attempts are failed and retried when batchd starts again, or were deleted).
        by_name = {name: address for address, name in names.items()}
        retirements = [
            env.client.run(_retire_node, name, env.resources, workers=[by_name[name]])
            for name in env.attached
            if name in by_name
        ]
        await asyncio.gather(*retirements, return_exceptions=True)
        for topic in (report.TOPIC, MEMBERSHIP_TOPIC):
            with contextlib.suppress(Exception):
                env.client.unsubscribe_topic(topic)
        await env.client.close()

    async def read_logs(self, env_id: str, key: str) -> tuple[bytes, bytes] | None:
        """Asked of the worker running the attempt: it may be on another machine."""
        env = self._envs.get(env_id)
        owner = env.live.get(key) if env is not None else None
        work_dir = owner.work_dirs.get(key) if owner is not None else None
        if env is None or owner is None or work_dir is None:
            return None
        names = {node_id: name for name, node_id in env.attached.items()}
        address = self._address(env, names.get(owner.ran_on, ""))
        if not address:
            return None
        try:
            answers = await env.client.run(runner.read_tails, work_dir, workers=[address])
        except Exception:
            return None
        tails: tuple[bytes, bytes] = answers[address]
        return tails

    def scheduler_address(self, env_id: str) -> str:
        return self._addresses.get(env_id, "")

    async def external_workers(self, env_id: str) -> dict[str, ExternalWorker]:
        env = self._envs.get(env_id)
        if env is None:
            return {}
        found = {}
        for address, worker in (await _workers(env.client)).items():
            name = str(worker["name"])
            resources = worker.get("resources") or {}
            # A node of any environment sharing the scheduler has its node resource.
            if name in env.attached or any(
                value and resource.startswith(NODE_RESOURCE)
                for resource, value in resources.items()
            ):
                continue
            mem_gib = max(1, int(worker.get("memory_limit") or 0) // GIB)
            found[name] = ExternalWorker(name, address, int(worker["nthreads"]), mem_gib)
        return found

    # --- what DaskBackend asks of the scheduler, asked over the client ------------------------

    async def _stop_nodes(self, env: EnvState, node_ids: Sequence[str]) -> None:
        """Every node here is an attached worker, detached by DaskBackend.remove_nodes."""

    async def _after_pack(self, env: EnvState, owner: Pack) -> None:
        """The nodes here are the operator's processes: none is restarted after an attempt."""

    def _node_count(self, env: EnvState) -> int:
        connected = set(self._names.get(env.env_id, {}).values())
        return sum(1 for name in env.attached if name in connected)

    def _address(self, env: EnvState, name: str) -> str:
        names = self._names.get(env.env_id, {})
        return next((address for address, known in names.items() if known == name), "")

    async def _place_waiting_work(self, env: EnvState, address: str) -> None:
        await env.client.run_on_scheduler(_place_waiting_work, address)

    async def _processing_on(self, env: EnvState, address: str) -> set[str]:
        return set(await env.client.run_on_scheduler(_processing_on, address))

    async def _note_stopped(self, env: EnvState, pack_id: str, key: str, reason: str) -> None:
        await env.client.set_metadata([pack.STOPPED, pack_id, key], reason)

    async def _forget_pack(self, env: EnvState, pack_id: str) -> None:
        env.stopped.pop(pack_id, None)
        keep_claim = pack_id in self._lost_packs
        self._lost_packs.discard(pack_id)
        try:
            await env.client.run_on_scheduler(_forget_pack, pack_id, keep_claim)
        except Exception as error:  # the scheduler went away: nothing left to forget there
            log.warning("cannot forget pack %s on the scheduler: %s", pack_id, error)


def _env_resource(env: EnvState) -> str:
    return next(resource for resource in env.resources if resource.startswith(NODE_RESOURCE))


async def _workers(client: Client) -> dict[str, dict[str, Any]]:
    assert client.scheduler is not None  # connected
    identity = await client.scheduler.identity(n_workers=-1)
    workers: dict[str, dict[str, Any]] = identity.get("workers", {})
    return workers


async def _cancel(client: Client, future: Any) -> None:
    with contextlib.suppress(Exception):
        await client.cancel([future])


async def close_quietly(closable: Any) -> None:
    """Close a client or a cluster that may be broken already."""
    with contextlib.suppress(Exception):
        await closable.close()


# Run in a worker's process (client.run), hence at module level.


async def _retire_node(name: str, resources: dict[str, float], dask_worker: Worker) -> None:
    """On a node of an earlier batchd process: stop its attempts, take no more work."""
    stopped = registry.stop_all(pack.NODE_LOST)
    if stopped:
        log.warning("stopped %d attempts of an earlier batchd process", stopped)
    await membership.release_worker(name, resources, dask_worker)


# Run in the scheduler's process (client.run_on_scheduler), hence at module level.


def _place_waiting_work(address: str, dask_scheduler: Scheduler) -> None:
    membership.place_waiting_work(dask_scheduler, address)


def _processing_on(address: str, dask_scheduler: Scheduler) -> list[str]:
    worker = dask_scheduler.workers.get(address)
    return [str(ts.key) for ts in worker.processing] if worker is not None else []


def _forget_pack(pack_id: str, keep_claim: bool, dask_scheduler: Scheduler) -> None:
    for table in (pack.STOPPED,) if keep_claim else (pack.STOPPED, pack.CLAIMS):
        dask_scheduler.get_metadata([table], default={}).pop(pack_id, None)
