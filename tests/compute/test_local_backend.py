"""LocalDaskBackend's own lifecycle: an environment closed while its nodes start."""

from __future__ import annotations

import multiprocessing

from batchd.compute.backend import NodeSize
from batchd.compute.local import LocalDaskBackend
from tests.compute.recording import RecordingEvents


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
