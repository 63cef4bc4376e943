"""LocalDaskBackend's own lifecycle: an environment closed while its nodes start, a worker
that dies as it starts."""

from __future__ import annotations

import multiprocessing
import os
import signal
from dataclasses import dataclass

from batchd.compute.backend import NodeSize
from batchd.compute.local import LocalDaskBackend
from tests.compute.recording import RecordingEvents, eventually


async def test_closing_while_a_node_starts_leaves_no_worker_process() -> None:
    before = set(multiprocessing.active_children())
    events = RecordingEvents()
    backend = LocalDaskBackend(events)
    await backend.open_env("env-close001")
    await backend.add_nodes("env-close001", [NodeSize("node-close001", 1, 2)])

    await backend.close()  # the worker process is still being spawned

    # Worker processes are not daemons: one left behind would hold up this process's exit.
    assert set(multiprocessing.active_children()) - before == set()
    assert events.failed == []


@dataclass
class KillingFirstWorker(RecordingEvents):
    """Kills a node's first worker process the moment the scheduler registers it: before the
    worker's Nanny has heard from it."""

    backend: LocalDaskBackend | None = None

    def node_joined(self, env_id: str, node_id: str, address: str) -> None:
        super().node_joined(env_id, node_id, address)
        if self.joined.count(node_id) == 1 and self.backend is not None:
            scheduler = self.backend._envs[env_id].scheduler
            assert scheduler is not None
            worker = scheduler.workers[address]
            os.kill(worker.pid, signal.SIGKILL)


async def test_a_worker_killed_as_it_joins_is_started_again() -> None:
    events = KillingFirstWorker()
    backend = LocalDaskBackend(events)
    events.backend = backend
    try:
        await backend.open_env("env-rejoin01")
        await backend.add_nodes("env-rejoin01", [NodeSize("node-rejoin01", 1, 2)])

        await eventually(lambda: events.joined.count("node-rejoin01") == 2, within=60)
        assert events.failed == []
    finally:
        await backend.close()
