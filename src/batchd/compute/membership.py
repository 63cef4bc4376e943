"""Which workers of an environment's cluster are compute nodes: the scheduler plugin that
follows their membership, and the node resource that attaching gives an external worker and
detaching takes back. Dask places batchd's work only on workers that have that resource.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from distributed import Scheduler, Worker
from distributed.diagnostics.plugin import SchedulerPlugin

from batchd.compute.backend import ClusterEvents

# Only compute nodes have it: batchd's own workers from the start, external ones once attached.
NODE_RESOURCE = "batchd-node"
NODE_RESOURCES = {"slot": 1, NODE_RESOURCE: 1}


class Membership(SchedulerPlugin):
    """Forwards the scheduler's view of its workers, the source of node events."""

    def __init__(
        self,
        env_id: str,
        events: ClusterEvents,
        attached: dict[str, str],
        rejoined: Callable[[str, str, str], None],
        leaving: set[str],
    ) -> None:
        self._env_id = env_id
        self._events = events
        # The scheduler forgets a worker before it tells plugins that the worker left.
        self._names: dict[str, str] = {}
        self.joined: set[str] = set()  # names of every worker that ever registered
        self._attached = attached  # worker name -> node id, of attached external workers
        self._rejoined = rejoined  # (worker name, node id, address): attach it again
        self._leaving = leaving  # addresses of workers replaced on purpose (RestartComputeNode)

    def add_worker(self, scheduler: Scheduler, worker: str) -> None:
        self.worker_joined(str(scheduler.workers[worker].name), worker)

    def remove_worker(self, scheduler: Scheduler, worker: str, **kwargs: Any) -> None:
        self.worker_left(worker)

    def worker_joined(self, name: str, address: str) -> None:
        """Worker `name` registered at `address` (from the hook, or from a remote scheduler)."""
        self._names[address] = name
        self.joined.add(name)
        node_id = self._attached.get(name)
        if node_id is not None:  # an attached worker restarted: it needs the resource again
            self._rejoined(name, node_id, address)
            return
        self._events.node_joined(self._env_id, name, address)

    def worker_left(self, address: str) -> None:
        name = self._names.pop(address, "")
        if address in self._leaving:
            self._leaving.discard(address)
            return
        self._events.node_left(self._env_id, self._attached.get(name, name), address)

    def node_of(self, address: str) -> str:
        """The node id of the attached worker at `address`; "" for any other."""
        return self._attached.get(self._names.get(address, ""), "")


def node_resources(env_id: str) -> dict[str, float]:
    """The resources of a node of `env_id` on a scheduler that environments share: Dask
    places an environment's work only on its own nodes."""
    return {"slot": 1, f"{NODE_RESOURCE}-{env_id}": 1}


def place_waiting_work(scheduler: Scheduler, address: str) -> None:
    """Dask looks for a worker for tasks that had none only when one joins: an attached worker
    joined before it had the node resource, so tell the scheduler it can take them now."""
    worker = scheduler.workers.get(address)
    if worker is None:
        return
    stimulus_id = f"batchd-attach-{time.time()}"
    scheduler.transitions(
        scheduler.bulk_schedule_unrunnable_after_adding_worker(worker), stimulus_id
    )
    scheduler.stimulus_queue_slots_maybe_opened(stimulus_id=stimulus_id)


async def take_as_node(node_id: str, resources: dict[str, float], dask_worker: Worker) -> None:
    """On an external worker being attached: take batchd's work (the node `resources`), and
    answer to the node id (the runner reports it and hands it to commands as
    BATCH_COMPUTE_NODE_ID)."""
    dask_worker.name = node_id
    await dask_worker.set_resources(**resources)


async def release_worker(name: str, resources: dict[str, float], dask_worker: Worker) -> None:
    """On a worker being detached: take no more of batchd's work; its own name again."""
    await dask_worker.set_resources(**{resource: 0 for resource in resources if resource != "slot"})
    dask_worker.name = name
