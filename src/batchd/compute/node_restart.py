"""Restarting a node on the scheduler's side: a fresh worker process for a node whose worker
was held after an attempt (RestartComputeNode, TerminateTaskInstance; node_hold.py).

Dask may have queued more tasks on the worker before the hold. They go back to the scheduler,
which places them on other nodes, or on this one once it is back: none of them is lost, run
twice or counted as a failure (a worker that leaves with tasks on it fails them, since batchd
turns Dask's re-runs off). Then the node's Nanny replaces the worker process under the same name.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from distributed import Nanny, Scheduler

REASON = "batchd-restart-compute-node"
_RELEASE_WAIT_S = 10.0
_RELEASE_POLL_S = 0.005
_START_POLL_S = 0.05


async def restart(
    scheduler: Scheduler, nanny: Nanny, start_timeout: float, leaving: set[str]
) -> str:
    """Restart the worker of `nanny`; "" once a fresh worker has registered, else what failed.

    The address of the worker it replaces goes into `leaving` before that worker is stopped:
    its departure, whenever the scheduler notices it, is no membership change.
    """
    # The scheduler's view, not the Nanny's: the Nanny learns a fresh worker's address late.
    address = address_of(scheduler, str(nanny.name))
    worker = scheduler.workers.get(address)
    if worker is not None:
        stimulus_id = f"{REASON}-{time.time()}"
        # Queued there, not started: the hold keeps the worker from starting any of them.
        queued = [task.key for task in worker.processing]
        scheduler.transitions({key: "released" for key in queued}, stimulus_id)
        # Results still held there would be computed again elsewhere once the worker is gone,
        # which would run their attempts a second time: wait for the backend to release them.
        if not await _within(_RELEASE_WAIT_S, _RELEASE_POLL_S, lambda: not worker.has_what):
            held = sorted(str(task.key) for task in worker.has_what)
            return f"results {held} are still held on the worker; not restarted"
    # Killed, the worker is started again by its Nanny, as Dask's own restarts do it
    # (Nanny.restart would start it a second time, racing with the Nanny's own start).
    if address:
        leaving.add(address)
    await nanny.kill(reason=REASON)
    if await _within(
        start_timeout,
        _START_POLL_S,
        lambda: address_of(scheduler, str(nanny.name)) not in ("", address),
    ):
        return ""
    return f"the worker did not come back within {start_timeout:g} s"


def address_of(scheduler: Scheduler, name: str) -> str:
    """The address of the worker called `name`, "" when the scheduler has none."""
    return str(scheduler.aliases.get(name, ""))  # worker name -> address, kept by Dask


async def _within(seconds: float, poll_s: float, done: Callable[[], bool]) -> bool:
    """Whether `done()` holds within `seconds`, looking every `poll_s`."""
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(poll_s)
    return True
