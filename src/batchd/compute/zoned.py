"""One backend for the controller that hands each environment to the backend of its zone's node
source (the zones setting, domain/zones.py): batchd's own workers by default, an existing Dask
scheduler, or a Dask cluster manager. An environment's zone never changes, so its backend is
looked up once, when it is first opened.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace

from batchd.compute.backend import ComputeBackend, ExternalWorker, NodeSize
from batchd.compute.instance import InstanceSpec
from batchd.domain.zones import ZoneSources

log = logging.getLogger(__name__)


class ZonedBackend:
    def __init__(
        self,
        sources: ZoneSources,
        zone_of: Callable[[str], Awaitable[str]],
        local: ComputeBackend,
        others: Mapping[str, ComputeBackend],
        isolate_commands: bool = True,
    ) -> None:
        self._isolate = isolate_commands  # see `isolation`: off runs commands as the node's user
        self._sources = sources
        self._zone_of = zone_of  # an environment's zone, read from the store
        self._local = local  # batchd starts the nodes on this machine
        self._others = dict(others)  # by str(NodeSource): existing schedulers, cluster managers
        self._routes: dict[str, ComputeBackend] = {}  # env id -> its backend, once opened

    def _of(self, env_id: str) -> ComputeBackend:
        """The backend of an opened environment; the local one, which holds none, otherwise."""
        return self._routes.get(env_id, self._local)

    async def open_env(self, env_id: str) -> None:
        backend = self._routes.get(env_id)
        if backend is None:
            source = self._sources.of(await self._zone_of(env_id))
            backend = self._local if source.is_local else self._others[str(source)]
            self._routes[env_id] = backend
        await backend.open_env(env_id)

    async def add_nodes(self, env_id: str, nodes: Sequence[NodeSize]) -> None:
        await self._of(env_id).add_nodes(env_id, nodes)

    async def remove_nodes(self, env_id: str, node_ids: Sequence[str]) -> None:
        await self._of(env_id).remove_nodes(env_id, node_ids)

    async def close_env(self, env_id: str) -> None:
        await self._of(env_id).close_env(env_id)
        self._routes.pop(env_id, None)

    def submit(self, env_id: str, specs: Sequence[InstanceSpec]) -> None:
        if self._isolate:
            specs = [replace(spec, isolate=True) for spec in specs]
        self._of(env_id).submit(env_id, specs)

    async def kill(self, env_id: str, key: str, reason: str, restart_node: bool = False) -> None:
        await self._of(env_id).kill(env_id, key, reason, restart_node=restart_node)

    async def read_logs(self, env_id: str, key: str) -> tuple[bytes, bytes] | None:
        return await self._of(env_id).read_logs(env_id, key)

    def scheduler_address(self, env_id: str) -> str:
        return self._of(env_id).scheduler_address(env_id)

    async def external_workers(self, env_id: str) -> dict[str, ExternalWorker]:
        return await self._of(env_id).external_workers(env_id)

    async def attach_workers(self, env_id: str, nodes: Sequence[tuple[str, str]]) -> None:
        await self._of(env_id).attach_workers(env_id, nodes)

    def attempts_in_flight(self) -> int:
        return sum(b.attempts_in_flight() for b in [self._local, *self._others.values()])

    async def close(self) -> None:
        """Close every backend, the local one last, even when one of them fails."""
        for backend in [*self._others.values(), self._local]:
            try:
                await backend.close()
            except Exception:
                log.exception("closing a compute backend failed")
