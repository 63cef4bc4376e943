"""One server per data directory: a second `batchd serve` on a data directory in use refuses to
start instead of taking the first one's files (its work dirs, its Dask scratch space).

The data directory is held by an exclusive `flock` on `<data dir>/serve.lock` (released by the
kernel when the process dies, `kill -9` included), whose text names the holder. A SQLite store
lives in its data directory, so this makes it one process's. Servers on one PostgreSQL database,
each with a data directory of its own, are replicas of one service (store/lease.py).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

LOCK_FILE = "serve.lock"


class StoreInUse(Exception):
    """Another server holds the store; the message names it and says what to do."""


class Held:
    """The lock one server holds until `release` (or its death)."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file

    def release(self) -> None:
        if not self._file.closed:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()


def acquire(data_dir: Path, holder: str) -> Held:
    """Hold `data_dir` for this server, described to others as `holder`; raises StoreInUse,
    having changed nothing, when another server has it."""
    path = data_dir / LOCK_FILE
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    file = os.fdopen(descriptor, "r+")
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        running = file.read().strip() or "another batchd server"
        file.close()
        raise StoreInUse(
            f"the data directory {data_dir.resolve()} is in use by {running}: stop that server "
            "first, or start this one with another --data-dir (replicas on one PostgreSQL "
            "database each have their own)"
        ) from None
    file.seek(0)
    file.truncate()
    file.write(holder + "\n")
    file.flush()
    return Held(file)
