"""One server per store: a second `batchd serve` on a data directory or a PostgreSQL database in
use refuses to start instead of taking the first one's running attempts for lost.

The data directory is held by an exclusive `flock` on `<data dir>/serve.lock` (released by the
kernel when the process dies, `kill -9` included), whose text names the holder. On PostgreSQL
the database is also held by a session advisory lock on a connection of its own, and that
connection's `application_name` names the holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

LOCK_FILE = "serve.lock"
ADVISORY_KEY = 0x62617463_6864  # "batchd" in a bigint: the one writer of this database
DEAD_HOLDER_GRACE_SECONDS = 2.0


class StoreInUse(Exception):
    """Another server holds the store; the message names it and says what to do."""


class Held:
    """The locks one server holds until `release` (or its death)."""

    def __init__(self, file: IO[str], connection: Connection | None) -> None:
        self._file = file
        self._connection = connection

    def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # a lost connection has released it already
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY}
                )
                self._connection.commit()
                self._connection.close()
            self._connection.engine.dispose()
            self._connection = None
        if not self._file.closed:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()


def acquire(data_dir: Path, engine: Engine, holder: str) -> Held:
    """Hold `data_dir` (and `engine`'s database, on PostgreSQL) for this server, described to
    others as `holder`; raises StoreInUse, having changed nothing, when another server has it."""
    file = _hold_directory(data_dir, holder)
    try:
        connection = _hold_database(engine, holder) if engine.dialect.name == "postgresql" else None
    except BaseException:
        fcntl.flock(file, fcntl.LOCK_UN)
        file.close()
        raise
    return Held(file, connection)


def _hold_directory(data_dir: Path, holder: str) -> IO[str]:
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
            "first, or start this one with another --data-dir"
        ) from None
    file.seek(0)
    file.truncate()
    file.write(holder + "\n")
    file.flush()
    return file


def _try_lock(connection: Connection) -> bool:
    taken = connection.execute(
        text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
    ).scalar_one()
    connection.commit()
    return bool(taken)


def _hold_database(engine: Engine, holder: str) -> Connection:
    # A connection of its own, never pooled: closing it ends the session and its lock.
    connection = create_engine(engine.url, poolclass=NullPool).connect()
    try:
        connection.execute(
            text("SELECT set_config('application_name', :name, false)"), {"name": holder[:63]}
        )
        # A server killed a moment ago may still hold it until PostgreSQL notices its end.
        deadline = time.monotonic() + DEAD_HOLDER_GRACE_SECONDS
        while not (taken := _try_lock(connection)) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not taken:
            running = connection.execute(
                text(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                    "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                    "AND l.database = (SELECT oid FROM pg_database WHERE datname = "
                    "current_database()) AND (l.classid::bigint << 32) + l.objid::bigint = :key"
                ),
                {"key": ADVISORY_KEY},
            ).scalar()
            raise StoreInUse(
                f"the PostgreSQL database {engine.url.render_as_string(hide_password=True)} is "
                f"in use by {running or 'another batchd server'}: one server per database "
                "until replicas exist; stop that server first"
            )
    except BaseException:
        connection.close()
        connection.engine.dispose()
        raise
    return connection
