"""Environments whose nodes batchd starts through a Dask cluster manager class that the zones
setting names: a `SpecCluster` with a worker template, such as dask-jobqueue's clusters
(`dask_jobqueue.SLURMCluster`, PBS, SGE, LSF, HTCondor …) or `distributed.LocalCluster`. One
cluster of the class per environment; each node is one worker of it, started and stopped by its
name (the node id) through the manager's worker specs. A class without worker specs is refused
when the environment opens, and its nodes fail their creation with that reason.

A node's worker is sized by the manager's options, not by the instance type. Once it joins, it
becomes the node like an attached worker does (it gets the environment's node resource), so the
rest is ExistingSchedulerBackend's: the scheduler may run in this process or elsewhere (the
manager decides); reports and membership come over the client. Managers that start several
workers per job (dask-jobqueue's `processes` above 1) name them apart from the spec and are not
supported: their workers would never become the node.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from collections.abc import Sequence
from typing import Any

from batchd.compute.backend import ClusterEvents, NodeSize
from batchd.compute.dask_backend import NODE_START_TIMEOUT, EnvState
from batchd.compute.existing import ExistingSchedulerBackend, close_quietly
from batchd.domain.zones import NodeSource

log = logging.getLogger(__name__)


JOIN_POLL = 0.2  # s between looks for a started node's worker


class ClusterManagerBackend(ExistingSchedulerBackend):
    """Every environment of the zones that name the cluster manager `source`."""

    def __init__(
        self,
        events: ClusterEvents,
        source: NodeSource,
        node_start_timeout: float = NODE_START_TIMEOUT,
    ) -> None:
        super().__init__(events, "", node_start_timeout=node_start_timeout)
        self._source = source
        self._where = f"a Dask cluster of {source.cluster}"
        self._clusters: dict[str, Any] = {}  # env id -> its cluster manager (a SpecCluster)

    async def _scheduler_for(self, env_id: str) -> str:
        module, _, name = self._source.cluster.rpartition(".")
        cluster_class = getattr(importlib.import_module(module), name)
        options: dict[str, Any] = {"asynchronous": True}
        if "n_workers" in inspect.signature(cluster_class).parameters:
            options["n_workers"] = 0  # the nodes are started one by one, by name
        cluster = cluster_class(**{**options, **self._source.options})
        try:
            # Started here, not in the constructor (asynchronous): a scheduler that never comes
            # up (a pending pod, say) must not hold up the hand-over of every environment's work.
            await asyncio.wait_for(_started(cluster), self._node_start_timeout)
            if not callable(getattr(cluster, "new_worker_spec", None)):
                raise TypeError(
                    f"{self._source.cluster} is not a SpecCluster with a worker template: batchd "
                    "starts each node as one worker of it (dask-jobqueue's clusters, LocalCluster)"
                )
        except BaseException:
            await close_quietly(cluster)
            raise
        self._clusters[env_id] = cluster
        return str(cluster.scheduler_address)

    async def _open_env(self, env_id: str) -> None:
        try:
            await super()._open_env(env_id)
        except BaseException:
            cluster = self._clusters.pop(env_id, None)
            if cluster is not None:
                await close_quietly(cluster)
            raise

    def _drop(self, env: EnvState) -> None:
        super()._drop(env)
        cluster = self._clusters.pop(env.env_id, None)
        if cluster is not None:  # the next open starts a cluster of its own
            self._spawn(close_quietly(cluster))

    async def add_nodes(self, env_id: str, nodes: Sequence[NodeSize]) -> None:
        env = self._envs.get(env_id)
        cluster = self._clusters.get(env_id)
        if env is None or cluster is None:  # the manager could not start a cluster
            for node in nodes:
                why = f"cannot start {self._where}: {self._unreachable}"
                self._events.node_failed(env_id, node.node_id, why)
            return
        for node in nodes:
            if node.node_id in cluster.worker_spec:
                continue
            try:
                (spec,) = cluster.new_worker_spec().values()
            except Exception as error:
                why = f"{self._where} has no worker to start: {type(error).__name__}: {error}"
                self._events.node_failed(env_id, node.node_id, why)
                continue
            cluster.worker_spec[node.node_id] = spec  # its worker is named by the node id
            # Made the node when its worker joins, as an attached worker is when it rejoins.
            env.attached[node.node_id] = node.node_id
            self._spawn(self._await_join(env, node.node_id))
        self._spawn(self._correct(env_id, cluster))

    async def _correct(self, env_id: str, cluster: Any) -> None:
        """Have the manager start and stop workers to match its specs."""
        try:
            await cluster  # a SpecCluster awaited converges to its worker specs
        except Exception as error:  # a worker (job, pod) that could not start: _await_join says so
            log.warning("%s of %s: %s", self._where, env_id, error)

    async def _await_join(self, env: EnvState, node_id: str) -> None:
        """A node whose worker has not joined within the node start timeout failed to start."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._node_start_timeout
        while loop.time() < deadline:
            if env.closed or node_id not in env.attached or self._address(env, node_id):
                return
            await asyncio.sleep(JOIN_POLL)
        env.attached.pop(node_id, None)
        cluster = self._clusters.get(env.env_id)
        if cluster is not None:
            cluster.worker_spec.pop(node_id, None)
            self._spawn(self._correct(env.env_id, cluster))
        why = f"its worker did not join within {self._node_start_timeout} s"
        self._events.node_failed(env.env_id, node_id, why)

    async def remove_nodes(self, env_id: str, node_ids: Sequence[str]) -> None:
        await super().remove_nodes(env_id, node_ids)  # detaches: no more work, attempts fail
        cluster = self._clusters.get(env_id)
        if cluster is not None:
            for node_id in node_ids:
                cluster.worker_spec.pop(node_id, None)
            await self._correct(env_id, cluster)

    async def close_env(self, env_id: str) -> None:
        await super().close_env(env_id)
        cluster = self._clusters.pop(env_id, None)
        if cluster is not None:
            try:
                await cluster.close()
            except Exception as error:  # its workers may outlive it: their jobs time out
                log.warning("closing %s of %s failed: %s", self._where, env_id, error)


async def _started(cluster: Any) -> None:
    await cluster  # a SpecCluster awaited starts its scheduler, then its workers
