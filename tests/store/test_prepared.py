"""Statements run on the driver's cursor give what Core gives, in the connection's transaction,
and fail as Core fails (so that the store's error translation still applies)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update

from batchd.domain import errors
from batchd.store import database, migrate
from batchd.store import errors as store_errors
from batchd.store.prepared import Prepared
from batchd.store.tables import messages, queues
from batchd.store.tables_batch import envs

QUEUE = {
    "queue_id": "queue-1",
    "account": "1250000000",
    "region": "gz",
    "name": "Orders",
    "name_key": "orders",
    "msg_num": 0,
    "created_ms": 1,
    "modified_ms": 1,
    "max_msg_heap_num": 10,
    "polling_wait_seconds": 0,
    "visibility_timeout": 30,
    "max_msg_size": 65536,
    "msg_retention_seconds": 3600,
    "rewind_seconds": 0,
    "max_receive_count": 0,
    "max_time_to_live": 0,
}
_by_name = select(queues).where(queues.c.name_key == bindparam("b_name"))
_bodies = select(messages.c.msg_id, messages.c.body).where(
    messages.c.queue_pk == bindparam("b_queue")
)
_more = (
    update(queues)
    .where(queues.c.pk == bindparam("b_pk"))
    .values(msg_num=queues.c.msg_num + 1)  # a literal the statement binds itself
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    writer, reader = database.create_engines(database_url)
    migrate.upgrade(writer)
    yield writer
    writer.dispose()
    reader.dispose()


def _queue_pk(conn: Connection) -> int:
    conn.execute(insert(queues).values(**QUEUE))
    return int(conn.execute(select(queues.c.pk)).scalar_one())


def test_rows_are_those_core_reads(engine: Engine) -> None:
    with engine.connect() as conn, conn.begin():
        pk = _queue_pk(conn)
        columns = ("queue_pk", "msg_id", "body", "enqueue_ms", "visible_ms")
        Prepared(insert(messages), column_keys=columns).run(
            conn,
            [
                dict(zip(columns, (pk, f"m{i}", bytes([i, 0, 255]), i, i), strict=True))
                for i in range(3)
            ],
        )
        found = Prepared(_by_name).first(conn, {"b_name": "orders"})
        core = conn.execute(_by_name, {"b_name": "orders"}).first()
        assert found is not None
        assert core is not None
        assert tuple(found) == tuple(core)
        assert found.name == "Orders"
        assert Prepared(_by_name).first(conn, {"b_name": "nothing"}) is None
        rows = Prepared(_bodies).rows(conn, {"b_queue": pk})
        assert [(row.msg_id, row.body) for row in rows] == [
            (f"m{i}", bytes([i, 0, 255])) for i in range(3)
        ]
        assert all(type(row.body) is bytes for row in rows)


def test_changes_are_in_the_connections_transaction(engine: Engine) -> None:
    with engine.connect() as conn:
        with conn.begin():
            pk = _queue_pk(conn)
        more = Prepared(_more)
        with conn.begin() as tx:
            assert more.run(conn, {"b_pk": pk}) == 1
            assert more.run(conn, {"b_pk": pk + 1000}) == 0
            assert conn.execute(select(queues.c.msg_num)).scalar_one() == 1
            tx.rollback()
        assert conn.execute(select(queues.c.msg_num)).scalar_one() == 0
        conn.rollback()
        # Outside a transaction, a statement begins one, as Core's would.
        more.run(conn, {"b_pk": pk})
        assert conn.in_transaction()
        conn.commit()
        assert conn.execute(select(func.sum(queues.c.msg_num))).scalar_one() == 1


def test_a_driver_error_is_translated_as_cores_would_be(engine: Engine) -> None:
    with engine.connect() as conn, conn.begin():
        _queue_pk(conn)
        again = Prepared(insert(queues), column_keys=tuple(QUEUE))
        with pytest.raises(errors.ResourceInUse), store_errors.driver_errors():
            again.run(conn, QUEUE)  # the same queue id: a unique constraint


ENV = {
    "env_id": "env-1",
    "account": "1250000000",
    "region": "gz",
    "name": "e",
    "description": "",
    "env_type": "LOCAL",
    "zone": "z",
    "desired": 1,
    "cpu": 1,
    "mem_gib": 1,
    "anonymous_job_id": None,
    "anonymous_task": None,
    "deleting": False,
    "create_info": "{}",
    "notifications": "[]",
    "tags": "[]",
    "resource_max_retry": 0,
    "creation_failures": 0,
    "if_creation_failed": "",
    "sequence": 0,
    "created_ms": 1,
}


def test_an_insert_returns_its_generated_key_and_booleans_read_as_bool(engine: Engine) -> None:
    add = Prepared(insert(envs), column_keys=tuple(ENV), returning=envs.c.pk)
    by_id = Prepared(select(envs.c.pk, envs.c.deleting).where(envs.c.env_id == bindparam("b_id")))
    with engine.connect() as conn, conn.begin():
        first = add.key(conn, ENV)
        second = add.key(conn, {**ENV, "env_id": "env-2", "deleting": True})
        assert second > first
        rows = [by_id.first(conn, {"b_id": name}) for name in ("env-1", "env-2")]
        assert [(row.pk, row.deleting) for row in rows if row is not None] == [
            (first, False),
            (second, True),
        ]
        assert all(type(row.deleting) is bool for row in rows if row is not None)


def test_a_column_that_needs_result_processing_is_refused() -> None:
    with pytest.raises(TypeError, match="result processing"):
        Prepared(select(envs.c.pk, func.now()))  # a timestamp
