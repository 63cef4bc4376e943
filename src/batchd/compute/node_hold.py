"""The worker's side of restarting a node after an attempt (Task.RestartComputeNode, and
TerminateTaskInstance in a named environment): its node takes no more work until batchd has
restarted it (node_restart.py does that on the scheduler's side).

The worker is held while the attempt still occupies it: by the runner before it reports the
attempt's end, or by the kill that stops it. A held worker starts none of the tasks Dask queued
on it, and the scheduler, which hears of the hold before it hears that the attempt's Dask task is
over, places nothing more on it. Only workers batchd started are held (its preload marks them):
an attached worker is the operator's process, which batchd cannot restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchd.compute import registry

if TYPE_CHECKING:
    from distributed import Worker

_owned = False  # this process is a worker batchd started (node_start ran)


def mark_owned() -> None:
    """Called by the preload of the workers batchd starts."""
    global _owned
    _owned = True


def hold(worker: Worker | None) -> None:
    """From the thread running an attempt: hold `worker` for its restart."""
    if worker is None or not _owned:
        return
    from distributed.utils import sync

    async def on_loop() -> None:
        _hold(worker)

    sync(worker.loop, on_loop)


def stop_and_hold(key: str, reason: str, dask_worker: Worker) -> str:
    """`registry.stop`, and, on the worker where the attempt runs, hold that worker for its
    restart; meant for ``client.run``, which calls it on the worker's event loop."""
    answer = registry.stop(key, reason)
    if answer == registry.RUNNING and _owned:
        _hold(dask_worker)
    return answer


def _hold(worker: Worker) -> None:
    from distributed.core import Status

    # Dask's own state for a worker about to leave: not `paused`, which the worker's memory
    # monitor lifts again by itself.
    worker.status = Status.closing_gracefully
