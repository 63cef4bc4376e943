"""The seam between the controller and whatever runs the work: a Dask cluster per environment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from batchd.compute.instance import InstanceResult, InstanceSpec


@dataclass(frozen=True, slots=True)
class NodeSize:
    node_id: str
    cpu: int
    mem_gib: int


class ClusterEvents(Protocol):
    """What a backend reports; called on the event loop."""

    def node_joined(self, env_id: str, node_id: str, address: str) -> None: ...

    def node_left(self, env_id: str, node_id: str, address: str) -> None: ...

    def node_failed(self, env_id: str, node_id: str, error: str) -> None: ...

    def instance_running(self, key: str, node_id: str, started_at: float) -> None: ...

    def instance_finished(self, key: str, result: InstanceResult | None, error: str) -> None: ...


class ComputeBackend(Protocol):
    """Starts nodes and hands instances to the environment's cluster, which places them."""

    async def open_env(self, env_id: str) -> None: ...

    async def add_nodes(self, env_id: str, nodes: Sequence[NodeSize]) -> None: ...

    async def remove_nodes(self, env_id: str, node_ids: Sequence[str]) -> None: ...

    async def close_env(self, env_id: str) -> None: ...

    def submit(self, env_id: str, specs: Sequence[InstanceSpec]) -> None:
        """Hand over attempts; each is reported once by `ClusterEvents.instance_finished`.

        Everything handed over at once for one environment comes in one call: the backend may
        then run many attempts of one task in one unit of work (a pack) without changing what
        is reported about each.
        """
        ...

    async def kill(self, env_id: str, key: str, reason: str) -> None:
        """Stop attempt `key`: a running one ends and reports itself with `reason`; one that has
        not started never starts and is reported with `reason`."""
        ...

    def describe_capacity(self, env_id: str) -> tuple[int, int]:
        """(nodes registered, nodes idle) as the cluster sees them now."""
        ...

    async def close(self) -> None: ...
