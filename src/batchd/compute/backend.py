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


@dataclass(frozen=True, slots=True)
class ExternalWorker:
    """A worker the operator started against an environment's scheduler, not yet a node."""

    name: str
    address: str
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

    async def kill(self, env_id: str, key: str, reason: str, restart_node: bool = False) -> None:
        """Stop attempt `key`: a running one ends and reports itself with `reason`; one that has
        not started never starts and is reported with `reason`. `restart_node`: the node a
        running attempt ran on restarts once the attempt is over."""
        ...

    async def read_logs(self, env_id: str, key: str) -> tuple[bytes, bytes] | None:
        """The live stdout and stderr tails (runner.TAIL_BYTES each) of attempt `key`, read
        from its work dir while the attempt is handed over and not yet reported; None when the
        backend does not hold it (then the tails stored at its end are the answer).

        A backend whose workers share this machine's filesystem may read the files itself; one
        with remote workers asks the worker (``client.run(runner.read_tails, work_dir)``).
        """
        ...

    def scheduler_address(self, env_id: str) -> str:
        """Where external workers of an open environment connect; "" when it is not open."""
        ...

    async def external_workers(self, env_id: str) -> dict[str, ExternalWorker]:
        """Connected workers the backend did not start and that are no node yet, by name."""
        ...

    async def attach_workers(self, env_id: str, nodes: Sequence[tuple[str, str]]) -> None:
        """Make external workers (node id, worker name) nodes that take work; each is
        reported by `ClusterEvents.node_joined` under its node id, or `node_failed`.
        `remove_nodes` detaches them again without stopping their processes."""
        ...

    def attempts_in_flight(self) -> int:
        """Attempts handed over whose end has not been reported yet."""
        ...

    async def close(self) -> None: ...
