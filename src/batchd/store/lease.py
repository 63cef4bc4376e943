"""The leader lease of replicas on one PostgreSQL database: a row, an epoch, a deadline.

Why a lease row and not an advisory lock alone: a session lock is held for as long as its
connection lives, so a frozen leader (stopped, swapping, partitioned from its workers but not
from PostgreSQL) would keep it for ever. The row has a deadline in the database's own clock (no
two hosts' clocks are compared) and an epoch that grows with every new leader: each unit of
leader work checks the epoch, holding the row, in its own transaction (`Database` fences), so a
leader that lost the lease commits nothing more, and its successor starts only once every such
transaction has ended.

A replica takes the lease when it is free: released, past its deadline, or held by a session
that no longer exists (`pg_stat_activity`) — a leader killed with `kill -9` loses its
connection at once, and another replica leads within a second instead of waiting out the lease.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

LEASE_SECONDS = 10.0  # a leader that cannot renew for this long is replaced
RENEW_SECONDS = 1.0  # how often the leader renews, and followers look for a free lease
LOCK_WAIT_MS = 2000  # a takeover waits this long for leader work in flight, then tries later

_NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint"


@dataclass(frozen=True, slots=True)
class Holder:
    """Who leads, as the lease row says."""

    replica: str  # "" when nobody does
    url: str
    epoch: int


class Lease:
    """One replica's view of the lease, through a connection of its own (never pooled: its
    backend pid names this replica's session in the row)."""

    def __init__(self, database_url: str, replica: str, url: str) -> None:
        self.replica = replica
        self.url = url
        self._engine = create_engine(make_url(database_url), poolclass=NullPool)
        self._conn: Connection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._engine.dispose()

    def _connection(self) -> Connection:
        if self._conn is None:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(
                text(
                    "SELECT set_config('application_name', :name, false), "
                    "set_config('lock_timeout', :lock, false), "
                    "set_config('statement_timeout', :statement, false)"
                ),
                {
                    "name": f"batchd lease {self.replica}"[:63],
                    "lock": f"{LOCK_WAIT_MS}ms",
                    "statement": f"{int(LEASE_SECONDS * 500)}ms",
                },
            )
            # The migration made the row; should it be gone, the election starts again from 0.
            conn.execute(
                text(
                    "INSERT INTO leader_lease (id, epoch, holder, url, session, expires_ms) "
                    "VALUES (1, 0, '', '', 0, 0) ON CONFLICT (id) DO NOTHING"
                )
            )
            self._conn = conn
        return self._conn

    def _run(self, sql: str, **params: object) -> list[tuple[object, ...]]:
        """Run one statement; a broken connection is dropped, to be opened again next time."""
        try:
            result = self._connection().execute(text(sql), params)
            return [tuple(row) for row in result] if result.returns_rows else []
        except Exception:
            if self._conn is not None:
                self._conn.invalidate()
                self._conn.close()
                self._conn = None
            raise

    def try_take(self) -> int | None:
        """Lead from now on, when the lease is free: the new epoch, else None."""
        rows = self._run(
            f"UPDATE leader_lease SET epoch = epoch + 1, holder = :replica, url = :url, "
            f"session = pg_backend_pid(), expires_ms = {_NOW_MS} + :lease_ms "
            f"WHERE id = 1 AND (holder = '' OR expires_ms < {_NOW_MS} OR NOT EXISTS "
            "(SELECT 1 FROM pg_stat_activity a WHERE a.pid = leader_lease.session)) "
            "RETURNING epoch",
            replica=self.replica,
            url=self.url,
            lease_ms=int(LEASE_SECONDS * 1000),
        )
        return int(str(rows[0][0])) if rows else None

    def renew(self, epoch: int) -> bool:
        """Push the deadline on; False when another replica has taken the lease meanwhile."""
        rows = self._run(
            f"UPDATE leader_lease SET expires_ms = {_NOW_MS} + :lease_ms, "
            "session = pg_backend_pid() "
            "WHERE id = 1 AND epoch = :epoch AND holder = :replica RETURNING epoch",
            epoch=epoch,
            replica=self.replica,
            lease_ms=int(LEASE_SECONDS * 1000),
        )
        return bool(rows)

    def release(self, epoch: int) -> None:
        """Hand the lease back (a clean stop): another replica takes it within RENEW_SECONDS."""
        self._run(
            "UPDATE leader_lease SET holder = '', url = '', expires_ms = 0 "
            "WHERE id = 1 AND epoch = :epoch AND holder = :replica",
            epoch=epoch,
            replica=self.replica,
        )

    def holder(self) -> Holder:
        rows = self._run(
            f"SELECT holder, url, epoch, expires_ms < {_NOW_MS} FROM leader_lease WHERE id = 1"
        )
        if not rows:
            return Holder("", "", 0)
        replica, url, epoch, expired = rows[0]
        if expired:
            return Holder("", "", int(str(epoch)))
        return Holder(str(replica), str(url), int(str(epoch)))


def fence_holds(conn: Connection, epoch: int) -> bool:
    """Whether `epoch` still leads, holding the lease row until `conn`'s transaction ends: no
    other replica can take the lease before this transaction's leader work is committed."""
    found = conn.execute(
        text("SELECT epoch FROM leader_lease WHERE id = 1 FOR SHARE")
    ).scalar_one_or_none()
    return found is not None and int(found) == epoch
