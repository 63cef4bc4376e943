"""Engines, connection settings and the group-committing writer every state change goes through.

All writes run on one writer thread. It takes every unit of work that is waiting, runs each in a
savepoint of one transaction, and commits once: one fsync acknowledges many requests, and a unit
that fails is rolled back alone without touching the others in its group. On PostgreSQL the
writers of all replicas take turns (a transaction-level advisory lock), so the units of the whole
service still run one after the other.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from batchd.domain.audit import Call
from batchd.store import audit, lease, wakeups
from batchd.store import errors as store_errors
from batchd.store.repos import audit as audit_repo
from batchd.store.wakeups import Announcement, Hub

log = logging.getLogger(__name__)

T = TypeVar("T")

Conn = Connection  # what readers receive; lets upper layers name the type without SQLAlchemy

MAX_GROUP = 256
SQLITE_BUSY_TIMEOUT_MS = 30_000
# A transaction left open this long by a frozen process is ended by PostgreSQL: its lock on the
# leader lease must not keep another replica from leading (see store/lease.py).
IDLE_IN_TRANSACTION_MS = 8_000
# The replicas of a PostgreSQL database write one group at a time, as one writer thread does:
# a unit of work reads, decides and writes as if nothing else wrote meanwhile (a receive takes
# the visible messages it read; a resize deletes the nodes it saw idle).
WRITER_LOCK = 0x62617463_6877


class NotLeader(Exception):
    """Leader work from a replica that does not lead (any more): nothing of it was written."""


@dataclass(slots=True)
class Tx:
    """One unit of work inside a group commit: its connection and what to run after commit."""

    conn: Connection
    _after_commit: list[Callable[[], None]] = field(default_factory=list)
    # Rows read earlier in this unit, by the reader's own key: a controller tick publishes many
    # events to the same few topics and queues, and nothing else writes during a unit.
    memo: dict[Any, Any] = field(default_factory=dict)
    # Rows to insert at the end of the unit, in order: one executemany instead of a compiled
    # statement per row (a controller step records thousands of events).
    _deferred: list[tuple[Table, dict[str, Any]]] = field(default_factory=list)
    _announced: list[Announcement] = field(default_factory=list)
    _announced_here: list[Announcement] = field(default_factory=list)

    def announce(self, kind: str, *arguments: object, here: bool = True) -> None:
        """Once this unit commits, wake the handlers of `kind` (see store/wakeups.py) in every
        replica: in this one too unless `here` is False (it has done the work already)."""
        item = (kind, tuple(str(argument) for argument in arguments))
        self._announced.append(item)
        if here:
            self._announced_here.append(item)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` on the event loop once this unit's writes are durable."""
        self._after_commit.append(callback)

    def defer_insert(self, table: Table, row: dict[str, Any]) -> dict[str, Any]:
        """Insert `row` into `table` when the unit ends (or at `flush`), in the order deferred.

        Returns the row itself: until it is flushed, a change to it is a change to what is
        inserted. Rows of one table keep their order, so autoincrement keys follow it.
        """
        self._deferred.append((table, row))
        return row

    def flush(self) -> None:
        """Insert the deferred rows now: before a statement of this unit that reads them."""
        pending, self._deferred = self._deferred, []
        start = 0
        for end in range(1, len(pending) + 1):
            if end == len(pending) or pending[end][0] is not pending[start][0]:
                table = pending[start][0]
                self.conn.execute(insert(table), [row for _, row in pending[start:end]])
                start = end


@dataclass(slots=True)
class _Job:
    work: Callable[[Tx], Any]
    # An asyncio future of the writer's event loop (its caller awaits on that loop), else a
    # thread-safe one.
    future: concurrent.futures.Future[Any] | asyncio.Future[Any]
    leader_only: bool = False
    durable: bool = True
    result: Any = None
    error: BaseException | None = None
    callbacks: list[Callable[[], None]] = field(default_factory=list)
    announced: list[Announcement] = field(default_factory=list)
    announced_here: list[Announcement] = field(default_factory=list)

    def clear(self) -> None:
        self.result, self.error, self.callbacks = None, None, []
        self.announced, self.announced_here = [], []


_STOP = object()
# PostgreSQL: the statement that waits for the writers' turn, by whether the group must be durable.
_WRITERS_TURN = {
    True: text("SELECT pg_advisory_xact_lock(:key)"),
    False: text(
        "SELECT set_config('synchronous_commit', 'off', true), pg_advisory_xact_lock(:key)"
    ),
}


class _UnitFailed(Exception):
    """A unit of work raised `error`: its group must be redone with savepoints."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engines(url: str) -> tuple[Engine, Engine]:
    """(writer, reader) engines; SQLite gets WAL, full sync, a busy timeout and BEGIN IMMEDIATE."""
    if not is_sqlite(url):
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=8,
            max_overflow=8,
            connect_args={
                "options": f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"
            },
        )
        return engine, engine
    writer = create_engine(url, poolclass=NullPool)
    reader = create_engine(url, pool_size=8, max_overflow=8)
    _configure_sqlite(writer, begin="BEGIN IMMEDIATE")
    _configure_sqlite(reader, begin="BEGIN")
    return writer, reader


def _configure_sqlite(engine: Engine, *, begin: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN, so savepoints and IMMEDIATE work.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)


class Database:
    """Runs reads on a pool and writes through the group-committing writer thread.

    On PostgreSQL, where replicas share the database, leader work (`leader_only`) commits only
    while `fence_epoch` is the lease's epoch, and announcements reach the other replicas.
    """

    def __init__(self, writer: Engine, reader: Engine, hub: Hub | None = None) -> None:
        self.writer_engine = writer
        self.reader_engine = reader
        self.hub = hub or Hub()
        self.shared = writer.dialect.name == "postgresql"  # other replicas may use it
        # Set by the leadership of replicas: leader work then commits only under fence_epoch.
        self.fenced = False
        self.fence_epoch: int | None = None
        self._jobs: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.commits = 0
        self.units = 0
        self._synced = True  # SQLite's writer connection syncs every commit (FULL)
        # Reads run in threads that outlive a cancelled caller; stop() waits for them.
        self._reads_in_flight = 0
        self._reads_done = threading.Condition()

    @property
    def dialect(self) -> str:
        return self.writer_engine.dialect.name

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start the writer; after-commit callbacks run on `loop` when one is given."""
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="batchd-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._jobs.put(_STOP)
            self._thread.join()
            self._thread = None
        with self._reads_done:
            self._reads_done.wait_for(lambda: self._reads_in_flight == 0, timeout=30)
        self.writer_engine.dispose()
        self.reader_engine.dispose()

    async def write(
        self, work: Callable[[Tx], T], *, leader_only: bool = False, durable: bool = True
    ) -> T:
        """Run `work` in the next group commit; return once its writes are on disk.

        `leader_only` work (the controller's, the push dispatcher's) raises NotLeader, having
        written nothing, unless this replica holds the lease when it commits. Work that need
        not be `durable` returns once committed, without waiting for the disk when its whole
        group may do so: it survives batchd's death, and is lost only with the machine or the
        database server, which at-least-once delivery allows for a receive or a delete (the
        message is delivered again)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            return await asyncio.wrap_future(
                self.submit(work, leader_only=leader_only, durable=durable)
            )
        # Resolved with the rest of its group in one hand-over to the loop (see _resolve).
        future: asyncio.Future[T] = loop.create_future()
        self._enqueue(work, future, leader_only, durable)
        return await future

    def write_sync(self, work: Callable[[Tx], T]) -> T:
        """`write` for callers outside the event loop."""
        return self.submit(work).result()

    def submit(
        self, work: Callable[[Tx], T], *, leader_only: bool = False, durable: bool = True
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._enqueue(work, future, leader_only, durable)
        return future

    def _enqueue(
        self,
        work: Callable[[Tx], Any],
        future: concurrent.futures.Future[Any] | asyncio.Future[Any],
        leader_only: bool,
        durable: bool,
    ) -> None:
        if self._thread is None:
            raise RuntimeError("Database.start() has not been called")
        call = audit.CALLER.get()
        if call is not None and not call.recorded:
            work = _audited(work, call)
        self._jobs.put(_Job(work=work, future=future, leader_only=leader_only, durable=durable))

    def waiting(self) -> int:
        """How many units of work wait for the writer (a long unit may cut itself short)."""
        return self._jobs.qsize()

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Run `work` on a pooled connection in a worker thread."""
        return await asyncio.to_thread(self.read_sync, work)

    def read_sync(self, work: Callable[[Connection], T]) -> T:
        with self._reads_done:
            self._reads_in_flight += 1
        try:
            with store_errors.driver_errors(), self.reader_engine.connect() as conn:
                if self.dialect != "sqlite":
                    # One snapshot for every statement of the read (a count and its page agree);
                    # SQLite's read transaction is one already.
                    conn = conn.execution_options(isolation_level="REPEATABLE READ")
                return work(conn)
        finally:
            with self._reads_done:
                self._reads_in_flight -= 1
                self._reads_done.notify_all()

    # --- writer thread ------------------------------------------------------------------------

    def _run(self) -> None:
        conn: Connection | None = None
        while True:
            first = self._jobs.get()
            if first is _STOP:
                break
            batch: list[_Job] = [first]  # type: ignore[list-item]
            stop_after = False
            while len(batch) < MAX_GROUP:
                try:
                    item = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop_after = True
                    break
                batch.append(item)  # type: ignore[arg-type]
            # A unit whose caller went away before it started is dropped, never half-done;
            # once running, it runs to its commit even if its caller goes away meanwhile.
            batch = [job for job in batch if _starts(job.future)]
            if not batch:
                if stop_after:
                    break
                continue
            if conn is None:
                try:
                    conn = self.writer_engine.connect()
                    self._synced = True  # a new connection starts FULL
                except Exception as error:
                    self._fail_all(batch, error)
                    self._resolve(batch)
                    if stop_after:
                        break
                    continue
            if not self._commit_group(conn, batch):
                conn.close()
                conn = None
            self._resolve(batch)
            if stop_after:
                break
        if conn is not None:
            conn.close()

    def _commit_group(self, conn: Connection, batch: list[_Job]) -> bool:
        """Run and commit one group; False when the connection must be replaced.

        Units run back to back in one transaction. Only when one of them fails is the group
        rolled back and run again with a savepoint around each unit, so that the failing unit
        is undone alone: savepoints cost two statements per unit, and failures are rare.
        """
        try:
            durable = any(job.durable for job in batch)
            self._sqlite_sync(conn, durable)
            try:
                with conn.begin():
                    for job in self._begin_group(conn, batch, durable):
                        self._run_unit(conn, job)
                    self._notify(conn, batch)
            except _UnitFailed:
                for job in batch:
                    job.clear()
                with conn.begin():
                    for job in self._begin_group(conn, batch, durable):
                        try:
                            with conn.begin_nested():
                                self._run_unit(conn, job)
                        except _UnitFailed as failed:
                            job.error = failed.error
                    self._notify(conn, batch)
            self.commits += 1
            self.units += len(batch)
            return True
        except Exception as error:
            log.warning("group commit failed", exc_info=True, extra={"event": "commit_failed"})
            self._fail_all(batch, error)
            return False

    def _sqlite_sync(self, conn: Connection, durable: bool) -> None:
        """SQLite in WAL mode: a commit syncs the log only when the group must be durable
        (the next durable commit syncs what came before it too)."""
        if self.dialect == "sqlite" and durable != self._synced:
            # On the driver's connection: through SQLAlchemy it would begin a transaction, in
            # which SQLite does not change this setting.
            driver = conn.connection.driver_connection
            assert driver is not None
            driver.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._synced = durable

    def _begin_group(self, conn: Connection, batch: list[_Job], durable: bool) -> list[_Job]:
        """The units that may run in the group's transaction just begun on `conn`. On
        PostgreSQL: the commit's durability is set, and the group waits for this replica's turn
        to write. Leader work runs only while this replica leads, checked with the lease row
        held until the commit."""
        if self.shared:
            # One round trip: the commit's durability, and the turn (held until the commit).
            conn.execute(_WRITERS_TURN[durable], {"key": WRITER_LOCK})
        if not self.fenced or not any(job.leader_only for job in batch):
            return batch
        epoch = self.fence_epoch
        if epoch is not None and lease.fence_holds(conn, epoch):
            return batch
        for job in batch:
            if job.leader_only:
                job.error = NotLeader("this replica does not lead: its leader work is dropped")
        return [job for job in batch if not job.leader_only]

    def _notify(self, conn: Connection, batch: list[_Job]) -> None:
        if self.shared:
            announced = [item for job in batch if job.error is None for item in job.announced]
            if announced:
                wakeups.notify(conn, self.hub.replica, announced)

    @staticmethod
    def _run_unit(conn: Connection, job: _Job) -> None:
        tx = Tx(conn)
        try:
            job.result = job.work(tx)
            tx.flush()
        except Exception as error:
            raise _UnitFailed(_translated(error)) from error
        job.callbacks = tx._after_commit
        job.announced, job.announced_here = tx._announced, tx._announced_here

    @staticmethod
    def _fail_all(batch: list[_Job], error: Exception) -> None:
        translated = _translated(error)
        for job in batch:
            if job.error is None:
                job.error = translated
            job.callbacks, job.announced_here = [], []

    def _resolve(self, batch: list[_Job]) -> None:
        callbacks = [callback for job in batch for callback in job.callbacks]
        announced = [item for job in batch if job.error is None for item in job.announced_here]
        if announced:
            callbacks.append(lambda: self.hub.dispatch(announced))
        on_loop = [job for job in batch if isinstance(job.future, asyncio.Future)]
        if callbacks or on_loop:
            # One hand-over to the loop for the whole group: each costs a wake-up of the loop.
            # The callbacks run first, as the callers may count on what they do.
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(_settle, callbacks, on_loop)
            else:
                _run_callbacks(callbacks)
        for job in batch:
            if isinstance(job.future, asyncio.Future):
                continue
            if job.error is not None:
                job.future.set_exception(job.error)
            else:
                job.future.set_result(job.result)


def _starts(future: concurrent.futures.Future[Any] | asyncio.Future[Any]) -> bool:
    """Whether a unit is still wanted, now that it starts: a unit whose caller went away
    before it started is dropped, never half-done. (An asyncio future is read from the
    writer's thread here; one cancelled later is simply not resolved, see _settle.)"""
    if isinstance(future, asyncio.Future):
        return not future.cancelled()
    return future.set_running_or_notify_cancel()


def _settle(callbacks: list[Callable[[], None]], jobs: list[_Job]) -> None:
    """On the loop: a group's after-commit callbacks, then its callers' results."""
    _run_callbacks(callbacks)
    for job in jobs:
        future = job.future
        assert isinstance(future, asyncio.Future)
        if future.done():  # its caller was cancelled meanwhile
            continue
        if job.error is not None:
            future.set_exception(job.error)
        else:
            future.set_result(job.result)


def _audited(work: Callable[[Tx], T], call: Call) -> Callable[[Tx], T]:
    """`work`, and the audit entry of the request it belongs to, in one unit."""

    def unit(tx: Tx) -> T:
        result = work(tx)
        audit_repo.record(tx.conn, call, int(time.time() * 1000))
        tx.after_commit(lambda: setattr(call, "recorded", True))
        return result

    return unit


def _run_callbacks(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:
            log.exception("after-commit callback failed", extra={"event": "callback_failed"})


def _translated(error: Exception) -> BaseException:
    translated = store_errors.translate(error)
    if translated is None:
        return error
    translated.__cause__ = error
    return translated
