"""What replicas share about requests (store/request_memory.py): nonces seen by any of them, and
the usage each reports, exchanged between two `RequestMemory` objects on one PostgreSQL database
as two replicas would hold them."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from batchd.domain import errors
from batchd.store import database, request_memory
from batchd.store.request_memory import RequestMemory
from batchd.store.tables_requests import rate_usage, seen_nonces

MEMORY_SECONDS = 600.0

Memories = Callable[..., AbstractAsyncContextManager[RequestMemory]]


@pytest.fixture
def memories(pg_url: str) -> Memories:
    """Makes a replica's RequestMemory on the test's PostgreSQL database, closed after use."""

    @asynccontextmanager
    async def memory(clock: Callable[[], float] = time.time) -> AsyncIterator[RequestMemory]:
        made = RequestMemory(pg_url, nonce_seconds=MEMORY_SECONDS, clock=clock)
        try:
            yield made
        finally:
            await made.close()

    return memory


def rows(url: str, table_count: object) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(table_count).scalar_one())  # type: ignore[call-overload]
    finally:
        engine.dispose()


async def test_a_nonce_is_new_once_whichever_replica_sees_it(memories: Memories) -> None:
    async with memories() as a, memories() as b:
        assert await a.first_use("AKIDk", "42", "1700000000")
        assert not await b.first_use("AKIDk", "42", "1700000000")
        assert not await a.first_use("AKIDk", "42", "1700000000")
        assert await b.first_use("AKIDk", "42", "1700000001")  # another timestamp
        assert await b.first_use("AKIDother", "42", "1700000000")  # another key


async def test_concurrent_checks_go_in_one_statement(memories: Memories) -> None:
    async with memories() as a, memories() as b:
        fresh = await asyncio.gather(*(a.first_use("AKIDk", str(n), "1") for n in range(200)))
        assert fresh == [True] * 200
        assert a.statements == 1  # all 200 were waiting when the first insert started
        again = await asyncio.gather(
            *(b.first_use("AKIDk", str(n), "1") for n in range(150, 250)),
            b.first_use("AKIDk", "250", "1"),
        )
        assert again == [False] * 50 + [True] * 51


async def test_the_same_nonce_twice_in_one_batch_is_new_once(memories: Memories) -> None:
    async with memories() as a:
        fresh = await asyncio.gather(*(a.first_use("AKIDk", "7", "1") for _ in range(5)))
    assert sorted(fresh) == [False, False, False, False, True]


@pytest.mark.parametrize(
    "nonce", ["9" * 65, "x" * 100_000, "nul\x00inside", "#" + "0" * 64, "ünïcödé"]
)
async def test_any_nonce_text_is_remembered(memories: Memories, nonce: str) -> None:
    async with memories() as a, memories() as b:
        assert await a.first_use("AKIDk", nonce, "0" * 200 + "1700000000")
        assert not await b.first_use("AKIDk", nonce, "0" * 200 + "1700000000")
        assert await b.first_use("AKIDk", nonce[:-1] + "?", "0" * 200 + "1700000000")


async def test_nonces_older_than_the_memory_are_deleted(memories: Memories, pg_url: str) -> None:
    now = [1_000_000.0]
    async with memories(lambda: now[0]) as a:
        assert await a.first_use("AKIDk", "old", "1")
    now[0] += MEMORY_SECONDS + 1
    async with memories(lambda: now[0]) as b:  # its first insert starts a purge
        assert await b.first_use("AKIDk", "new", "2")
    assert rows(pg_url, select(func.count()).select_from(seen_nonces)) == 1
    async with memories(lambda: now[0]) as c:
        assert await c.first_use("AKIDk", "old", "1")


async def test_a_lost_connection_is_replaced(memories: Memories, pg_url: str) -> None:
    async with memories() as a:
        assert await a.first_use("AKIDk", "1", "1")
        engine = create_engine(pg_url)
        try:
            with engine.connect() as conn:
                ended = conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() "
                        "AND application_name = 'batchd request memory'"
                    )
                ).scalar_one()
        finally:
            engine.dispose()
        assert ended >= 1
        assert await a.first_use("AKIDk", "2", "1")
        assert not await a.first_use("AKIDk", "1", "1")


async def test_an_unreachable_database_refuses_the_check() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = closed.getsockname()[1]
        memory = RequestMemory(
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/none", nonce_seconds=MEMORY_SECONDS
        )
        try:
            with pytest.raises(errors.StoreUnavailable):
                await memory.first_use("AKIDk", "1", "1")
            with pytest.raises(errors.StoreUnavailable):
                await memory.exchange({"AKIDk": 1})
        finally:
            await memory.close()


async def test_replicas_learn_what_the_others_admitted(memories: Memories, pg_url: str) -> None:
    async with memories() as a, memories() as b:
        assert await a.exchange({}) == {}
        assert await b.exchange({"AKIDk": 5}) == {}  # a first exchange learns nothing
        assert await a.exchange({"AKIDk": 1}) == {"AKIDk": 5}
        assert await a.exchange({}) == {}  # told once
        assert await b.exchange({"AKIDk": 2, "AKIDo": 3}) == {"AKIDk": 1}
        assert await b.exchange({}) == {}
        assert await a.exchange({}) == {"AKIDk": 2, "AKIDo": 3}
    assert rows(pg_url, select(func.sum(rate_usage.c.used))) == 11


async def test_a_later_replica_owes_nothing_for_earlier_usage(memories: Memories) -> None:
    async with memories() as a:
        await a.exchange({"AKIDk": 100})
        async with memories() as late:
            assert await late.exchange({}) == {}
            await a.exchange({"AKIDk": 1})
            assert await late.exchange({}) == {"AKIDk": 1}


def test_sqlite_shares_nothing(tmp_path: Path) -> None:
    writer, reader = database.create_engines(f"sqlite:///{tmp_path / 'batchd.db'}")
    db = database.Database(writer, reader)
    try:
        assert request_memory.for_database(db, MEMORY_SECONDS) is None
    finally:
        db.stop()


def test_the_shared_tables_skip_the_write_ahead_log(pg_url: str) -> None:
    persistence = text(
        "SELECT relname, relpersistence FROM pg_class "
        "WHERE relname IN ('seen_nonces', 'rate_usage')"
    )
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            found = {str(name): str(kind) for name, kind in conn.execute(persistence)}
    finally:
        engine.dispose()
    assert found == {"seen_nonces": "u", "rate_usage": "u"}  # UNLOGGED
