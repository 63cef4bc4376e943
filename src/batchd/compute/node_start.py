"""Dask preload of the worker processes batchd starts: readies a node before its first attempt.

Without it the first attempt on a node pays for importing the runner and for starting the
node's watchdog process, and so does every node that joins a running environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchd.compute import guard, node_hold, pack  # noqa: F401  (pack imports the runner, staging)

if TYPE_CHECKING:
    from distributed import Worker


def dask_setup(worker: Worker) -> None:
    """Called by Dask in the worker process, before it takes any task."""
    guard.shared().start()
    node_hold.mark_owned()
