"""What the replicas of one PostgreSQL database share about requests: the CMQ nonces already seen
and how many requests each key was admitted, so that whichever replica a request reaches, a
replay is refused and a key gets its rate once, not once per replica.

Nonces. Each replica keeps its own memory of nonces (api/auth.py) as the first, free check; a
nonce new to it is then inserted into `seen_nonces` with `INSERT ... ON CONFLICT DO NOTHING
RETURNING`: a row that comes back is the first use anywhere, a missing one a replay. Checks
that arrive while one insert is in flight wait for it and go together in the next, so a burst of
requests costs one statement, not one each. It runs on a connection of this module's own, in
autocommit, held between checks and driven from the event loop (psycopg's async connection):
never on the writer, whose group commit waits for fsync, never behind the reads of the shared
pool, and with no hand-over to a thread and back. The table is UNLOGGED (migration 0010): no WAL,
no fsync; PostgreSQL empties it after a crash, and then forgets at most the last ten minutes of
nonces. Rows older than the nonce memory go once a minute, through the `seen_ms` index. When the
database cannot be reached, a check fails (StoreUnavailable: CMQ 6000) rather than let a
possible replay through.

Rate limits. The obvious design, one counter row per key that every request updates, puts a
database round trip and a hot row lock on every request of the key. Instead each replica keeps
the whole token bucket of every key (rate R, burst 2R) in memory, so admitting a request costs
what it costs one server, and every SYNC_SECONDS it exchanges usage: it adds what it admitted
since its last report to its row of `rate_usage` (key, second of the database's clock, replica)
and reads the others' rows of the last few seconds; what they admitted since its last read is
taken out of its own buckets, which may go below zero (debt). One statement per replica every
SYNC_SECONDS, whatever the traffic.

Accuracy, with D = the delay before a replica learns of another's admission (at most two
periods and two round trips: about 0.2 s), R the rate and N the replicas:

- Over any interval of T seconds the replicas together admit at most R*T + 2R + U, where U is
  what other replicas admitted within D before the last admission and its replica did not know
  of yet. Under steady overload every bucket hovers near empty and U is about R*D (a fifth of a
  second's worth); at worst, all replicas spend a full burst at the same moment: U <= (N-1) *
  (2R + R*D). That excess is then owed, not forgiven: the buckets go into debt and admit nothing
  until it is paid back, so over longer runs the total rate stays R.
- A replica refuses no request that one shared bucket would admit, except by the refill a late
  debit missed: at most R*D tokens early.
- A replica that cannot reach the database keeps its own bucket (R per replica at worst) and
  reports what it admitted once it can again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from batchd.domain import errors
from batchd.store import errors as store_errors
from batchd.store.database import Database

log = logging.getLogger(__name__)

SYNC_SECONDS = 0.1  # how often a replica exchanges key usage with the others
PURGE_SECONDS = 60.0  # how often a replica deletes nonces and usage nobody needs any more
USAGE_LOOKBACK_SECONDS = 3  # usage rows read: a replica stalled longer misses some
USAGE_KEEP_SECONDS = 60  # usage rows kept, to look at
MAX_KEY_TEXT = 64  # longer nonces and timestamps are stored as their digest
THREADS = 2  # a usage exchange and a purge may run at once
CONNECT_TIMEOUT_SECONDS = 10
APPLICATION_NAME = "batchd request memory"  # in pg_stat_activity

Key = tuple[str, str, str]  # (secret id, nonce, timestamp)
UsageRow = tuple[str, int, str]  # (secret id, second, replica)

# Run on a driver connection on the event loop: SQLAlchemy's statement and result handling, and a
# hand-over to a thread and back, would double the CPU time of a check that goes alone (psycopg
# prepares the statement after a few runs).
_REMEMBER = (
    "INSERT INTO seen_nonces (secret_id, nonce, timestamp, seen_ms) "
    "SELECT k.secret_id, k.nonce, k.stamp, %s FROM unnest(%s::text[], %s::text[], %s::text[]) "
    "AS k(secret_id, nonce, stamp) "
    "ON CONFLICT DO NOTHING RETURNING secret_id, nonce, timestamp"
)
# The database's clock numbers the seconds: replicas' clocks may disagree, its clock is one.
_SECOND = "CAST(floor(extract(epoch FROM clock_timestamp())) AS bigint)"
_EXCHANGE = text(
    f"WITH clock AS (SELECT {_SECOND} AS now_s), "
    "reported AS ("
    "INSERT INTO rate_usage AS r (secret_id, window_s, replica, used) "
    "SELECT u.secret_id, clock.now_s, :replica, u.used "
    "FROM unnest(CAST(:secret_ids AS text[]), CAST(:counts AS bigint[])) AS u(secret_id, used), "
    "clock "
    "ON CONFLICT (secret_id, window_s, replica) DO UPDATE SET used = r.used + excluded.used) "
    "SELECT r.secret_id, r.window_s, r.replica, r.used FROM rate_usage AS r, clock "
    "WHERE r.window_s >= clock.now_s - :lookback AND r.replica <> :replica"
)
_PURGE_NONCES = text("DELETE FROM seen_nonces WHERE seen_ms < :before_ms")
_PURGE_USAGE = text(f"DELETE FROM rate_usage WHERE window_s < {_SECOND} - :keep")


def for_database(
    db: Database, nonce_seconds: float, clock: Callable[[], float] = time.time
) -> RequestMemory | None:
    """The shared memory of `db`'s replicas; None on SQLite, which only one process uses."""
    if db.dialect != "postgresql":
        return None
    return RequestMemory(db.reader_engine.url, nonce_seconds=nonce_seconds, clock=clock)


class RequestMemory:
    """One replica's end of the shared memory (see the module text). Its coroutines run on one
    event loop; `close` once that loop serves no more requests."""

    def __init__(
        self,
        url: URL | str,
        *,
        nonce_seconds: float,
        clock: Callable[[], float] = time.time,
        replica: str | None = None,
    ) -> None:
        self.replica = replica or uuid.uuid4().hex
        self._nonce_ms = int(nonce_seconds * 1000)
        self._clock = clock
        self._engine = create_engine(
            url,
            isolation_level="AUTOCOMMIT",  # one statement each: nothing to hold open
            pool_size=THREADS,
            max_overflow=0,
            connect_args={"application_name": APPLICATION_NAME},
        )
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=THREADS, thread_name_prefix="batchd-request-memory"
        )
        self._pending: list[tuple[Key, asyncio.Future[bool]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._usage_seen: dict[UsageRow, int] | None = None  # None until the first exchange
        self._next_purge = 0.0  # time.monotonic() of the next purge
        self._background: set[asyncio.Future[None]] = set()
        self.statements = 0  # nonce inserts run: how well checks are batched
        self._nonce_conn: psycopg.AsyncConnection[Any] | None = None  # see _remember

    async def first_use(self, secret_id: str, nonce: str, timestamp: str) -> bool:
        """Record (secret_id, nonce, timestamp): True when no replica had it yet, False for a
        replay. Raises StoreUnavailable when the database cannot answer."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.append(((secret_id, _bounded(nonce), _bounded(timestamp)), future))
        if self._flushing is None:
            self._flushing = loop.create_task(self._flush())
        return await future

    async def exchange(self, admitted: Mapping[str, int]) -> dict[str, int]:
        """Report what this replica `admitted` by key since its last report; return what the
        other replicas admitted, by key, since the last exchange (nothing on the first)."""
        loop = asyncio.get_running_loop()
        rows = await loop.run_in_executor(self._executor, self._exchange, dict(admitted))
        self._maybe_purge(loop)
        return self._news(rows)

    async def close(self) -> None:
        """Finish the checks in flight, then let the threads and connections go."""
        if self._flushing is not None:
            await asyncio.wait({self._flushing})
        if self._background:
            await asyncio.wait(self._background)
        await asyncio.to_thread(self._executor.shutdown)
        await self._drop_nonce_connection()
        self._engine.dispose()

    # --- nonces -------------------------------------------------------------------------------

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                keys = list(dict.fromkeys(key for key, _ in batch))
                try:
                    fresh = await self._remember(keys)
                except Exception as error:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for key, future in batch:
                    first = key in fresh
                    fresh.discard(key)  # the same nonce twice in one batch: the second replays
                    if not future.done():
                        future.set_result(first)
                self._maybe_purge(loop)
        finally:
            self._flushing = None

    async def _remember(self, keys: list[Key]) -> set[Key]:
        parameters = (
            int(self._clock() * 1000),
            [key[0] for key in keys],
            [key[1] for key in keys],
            [key[2] for key in keys],
        )
        while True:
            reused = self._nonce_conn is not None
            try:
                if self._nonce_conn is None:
                    self._nonce_conn = await self._connect()
                cursor = await self._nonce_conn.execute(_REMEMBER, parameters)
                rows = await cursor.fetchall()
                break
            except psycopg.Error as error:
                await self._drop_nonce_connection()
                if not isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
                    raise
                # A connection that waited between checks may have been closed meanwhile (a
                # restart, an idle timeout), and the statement then never reached the server:
                # it is sent once more on a new connection. Had it run after all, its nonces
                # now answer "replayed", and the client's retry (a new nonce) goes through.
                if not reused:
                    raise errors.StoreUnavailable(
                        "lost the database connection; retry shortly"
                    ) from error
        self.statements += 1
        return {(str(row[0]), str(row[1]), str(row[2])) for row in rows}

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        """A connection of the driver's own on the event loop, with what SQLAlchemy would pass
        it for this URL."""
        arguments, options = self._engine.dialect.create_connect_args(self._engine.url)
        options.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
        options["application_name"] = APPLICATION_NAME
        return await psycopg.AsyncConnection.connect(*arguments, **options, autocommit=True)

    async def _drop_nonce_connection(self) -> None:
        if self._nonce_conn is not None:
            with contextlib.suppress(Exception):
                await self._nonce_conn.close()
            self._nonce_conn = None

    # --- usage --------------------------------------------------------------------------------

    def _exchange(self, admitted: dict[str, int]) -> list[tuple[UsageRow, int]]:
        parameters: dict[str, Any] = {
            "replica": self.replica,
            "secret_ids": list(admitted),
            "counts": list(admitted.values()),
            "lookback": USAGE_LOOKBACK_SECONDS,
        }
        with store_errors.driver_errors(), self._engine.connect() as conn:
            rows = conn.execute(_EXCHANGE, parameters).all()
        return [((str(row[0]), int(row[1]), str(row[2])), int(row[3])) for row in rows]

    def _news(self, rows: list[tuple[UsageRow, int]]) -> dict[str, int]:
        """What grew since the last exchange, by key. A row not read any more has left the
        lookback: forgetting it is safe, as no replica adds to a past second."""
        before, self._usage_seen = self._usage_seen, dict(rows)
        if before is None:  # what the others admitted before this replica started is not owed
            return {}
        news: dict[str, int] = {}
        for row, used in rows:
            grown = used - before.get(row, 0)
            if grown > 0:
                news[row[0]] = news.get(row[0], 0) + grown
        return news

    # --- purge --------------------------------------------------------------------------------

    def _maybe_purge(self, loop: asyncio.AbstractEventLoop) -> None:
        now = time.monotonic()
        if now < self._next_purge:
            return
        self._next_purge = now + PURGE_SECONDS
        purge = loop.run_in_executor(self._executor, self._purge)
        self._background.add(purge)
        purge.add_done_callback(self._purged)

    def _purge(self) -> None:
        before_ms = int(self._clock() * 1000) - self._nonce_ms
        with store_errors.driver_errors(), self._engine.connect() as conn:
            conn.execute(_PURGE_NONCES, {"before_ms": before_ms})
            conn.execute(_PURGE_USAGE, {"keep": USAGE_KEEP_SECONDS})

    def _purged(self, purge: asyncio.Future[None]) -> None:
        self._background.discard(purge)
        if not purge.cancelled() and purge.exception() is not None:
            log.warning(
                "could not delete old nonces and key usage; trying again in a minute",
                exc_info=purge.exception(),
                extra={"event": "request_memory_purge_failed"},
            )


def _bounded(value: str) -> str:
    """`value`, or its digest when it is too long for the key or holds NUL, which PostgreSQL's
    text refuses ('#' and 64 hex digits: longer than any value stored as itself)."""
    if len(value) <= MAX_KEY_TEXT and "\x00" not in value:
        return value
    return "#" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
