"""The leader lease and the fence on leader work, on a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text

from batchd.store import database
from batchd.store.database import Database, NotLeader, Tx
from batchd.store.lease import Lease
from batchd.store.wakeups import MAX_PAYLOAD, decode, encode


@pytest.fixture
def leases(pg_url: str) -> Iterator[tuple[Lease, Lease]]:
    _rows(pg_url, "UPDATE leader_lease SET holder = '', expires_ms = 0")  # nobody leads
    first, second = Lease(pg_url, "first", "http://a"), Lease(pg_url, "second", "http://b")
    yield first, second
    first.close()
    second.close()


def test_one_replica_takes_a_free_lease_and_the_other_cannot(leases: tuple[Lease, Lease]) -> None:
    first, second = leases

    epoch = first.try_take()

    assert epoch is not None
    assert second.try_take() is None
    assert first.renew(epoch)
    assert second.holder().replica == "first"
    assert second.holder().url == "http://a"


def test_a_released_or_dead_leaders_lease_is_taken_at_once_with_a_new_epoch(
    leases: tuple[Lease, Lease],
) -> None:
    first, second = leases
    epoch = first.try_take()
    assert epoch is not None

    first.release(epoch)
    taken = second.try_take()
    assert taken == epoch + 1
    assert not first.renew(epoch)  # the old leader learns it lost the lease

    second.close()  # its session ends, as when its process is killed
    # Its server process ends a moment after the client closes (long under load): well within
    # the lease's 10 s, the lease is taken.
    deadline = time.monotonic() + 3
    while (again := first.try_take()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert again == epoch + 2


def test_leader_work_commits_only_under_the_leases_epoch(
    pg_url: str, leases: tuple[Lease, Lease]
) -> None:
    first, second = leases
    epoch = first.try_take()
    assert epoch is not None
    writer, reader = database.create_engines(pg_url)
    db = Database(writer, reader)
    db.fenced, db.fence_epoch = True, epoch

    def mark(value: str) -> Callable[[Tx], None]:
        def work(tx: Tx) -> None:
            tx.conn.execute(
                text(
                    "INSERT INTO client_tokens (account, region, kind, token, resource_id, "
                    "created_ms) VALUES ('1', 'r', 'k', :t, 'x', 0)"
                ),
                {"t": value},
            )

        return work

    async def scenario() -> None:
        db.start(asyncio.get_running_loop())
        try:
            await db.write(mark("while-leading"), leader_only=True)
            first.release(epoch)
            assert second.try_take() == epoch + 1
            with pytest.raises(NotLeader):
                await db.write(mark("after-losing-it"), leader_only=True)
            await db.write(mark("a-request"))  # any replica's own requests still commit
        finally:
            db.stop()

    asyncio.run(scenario())
    tokens = _rows(pg_url, "SELECT token FROM client_tokens ORDER BY token")
    assert tokens == [("a-request",), ("while-leading",)]


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def test_announcements_travel_in_payloads_postgresql_accepts() -> None:
    many = [("queue", (str(pk), "1")) for pk in range(3000)]

    payloads = encode("replica-a", many)

    assert len(payloads) > 1
    assert all(len(payload.encode()) < MAX_PAYLOAD for payload in payloads)
    decoded = [decode(payload) for payload in payloads]
    assert {sender for sender, _ in decoded} == {"replica-a"}
    assert [item for _, items in decoded for item in items] == many
