"""The group-committing writer: one transaction per group, each unit isolated in a savepoint."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, insert, select

from batchd.domain import errors
from batchd.store import database, migrate
from batchd.store.database import Database, Tx
from batchd.store.tables import topics


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    writer, reader = database.create_engines(database_url)
    migrate.upgrade(writer)
    started = Database(writer, reader)
    started.start(asyncio.get_running_loop())
    try:
        yield started
    finally:
        started.stop()


def _insert_topic(name: str) -> Callable[[Tx], str]:
    def work(tx: Tx) -> str:
        tx.conn.execute(
            insert(topics).values(
                topic_id=f"topic-{name}",
                account="a",
                region="r",
                name=name,
                max_msg_size=1024,
                filter_type=1,
                created_ms=0,
                modified_ms=0,
            )
        )
        return name

    return work


def _count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(topics)).scalar_one())


async def test_a_failing_unit_is_rolled_back_alone(db: Database) -> None:
    def half_done_then_fails(tx: Tx) -> None:
        _insert_topic("half")(tx)
        raise errors.QueueFull()

    results = await asyncio.gather(
        db.write(_insert_topic("first")),
        db.write(half_done_then_fails),
        db.write(_insert_topic("last")),
        return_exceptions=True,
    )
    assert results[0] == "first"
    assert isinstance(results[1], errors.QueueFull)
    assert results[2] == "last"
    names = await db.read(lambda conn: sorted(conn.execute(select(topics.c.name)).scalars().all()))
    assert names == ["first", "last"]


async def test_concurrent_units_share_commits(db: Database) -> None:
    await asyncio.gather(*[db.write(_insert_topic(f"t{n}")) for n in range(200)])
    assert await db.read(_count) == 200
    assert db.units == 200
    assert db.commits < 200


async def test_a_driver_error_becomes_a_batchd_error(db: Database) -> None:
    await db.write(_insert_topic("dup"))
    with pytest.raises(errors.ResourceInUse):
        await db.write(_insert_topic("dup"))


async def test_a_caller_cancelled_before_its_unit_starts_writes_nothing(db: Database) -> None:
    loop = asyncio.get_running_loop()
    holding, release = threading.Event(), asyncio.Event()

    def hold(_tx: Tx) -> None:  # keeps the writer busy until released
        holding.set()
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result()

    held = db.submit(hold)
    await asyncio.to_thread(holding.wait)
    waiting = asyncio.ensure_future(db.write(_insert_topic("never")))
    await asyncio.sleep(0.05)  # queued behind the unit that holds the writer
    assert db.waiting() == 1
    waiting.cancel()
    release.set()
    await asyncio.wrap_future(held)
    await db.write(lambda tx: None)  # after the cancelled unit's turn
    assert await db.read(_count) == 0


async def test_a_writer_that_cannot_connect_fails_its_units(tmp_path: Path) -> None:
    """The database cannot be opened (a directory that does not exist): every unit fails with
    the store's error, none waits for ever."""
    writer, reader = database.create_engines(f"sqlite:///{tmp_path / 'missing' / 'batchd.db'}")
    unreachable = Database(writer, reader)
    unreachable.start(asyncio.get_running_loop())
    try:
        for _ in range(2):
            with pytest.raises(errors.StoreUnavailable):
                await asyncio.wait_for(unreachable.write(lambda tx: None), timeout=10)
    finally:
        unreachable.stop()


def _write_many(url: str, prefix: str, count: int) -> None:
    writer, reader = database.create_engines(url)
    db = Database(writer, reader)
    db.start()
    try:
        for n in range(count):
            db.write_sync(_insert_topic(f"{prefix}{n}"))
    finally:
        db.stop()


def test_two_writer_processes_lose_nothing_to_locking(tmp_path: Path) -> None:
    """SQLite's busy timeout makes a second writer wait instead of failing."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    writer, reader = database.create_engines(url)
    migrate.upgrade(writer)
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_write_many, args=(url, prefix, 150)) for prefix in ("a", "b")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    with reader.connect() as conn:
        assert _count(conn) == 300
    writer.dispose()
    reader.dispose()
