"""Revision 0006 moves what was stored under a CMQ short region name to its long name, unless the
name is taken there (tdmq-api.md §3)."""

from __future__ import annotations

from sqlalchemy import Connection, create_engine, text

from batchd.store import migrate

QUEUE_COLUMNS = (
    "queue_id, account, region, name, name_key, msg_num, created_ms, modified_ms, "
    "max_msg_heap_num, polling_wait_seconds, visibility_timeout, max_msg_size, "
    "msg_retention_seconds, rewind_seconds, max_receive_count, max_time_to_live"
)


def insert_queue(conn: Connection, queue_id: str, region: str, name: str) -> None:
    conn.execute(
        text(
            f"INSERT INTO queues ({QUEUE_COLUMNS}) VALUES (:id, 'app', :region, :name, :key, "
            "0, 0, 0, 100, 0, 30, 65536, 345600, 0, 0, 0)"
        ),
        {"id": queue_id, "region": region, "name": name, "key": name.lower()},
    )


def test_short_region_names_become_long_ones(unmigrated_database_url: str) -> None:
    engine = create_engine(unmigrated_database_url)
    try:
        migrate.upgrade(engine, "0005")
        with engine.begin() as conn:
            insert_queue(conn, "queue-gz1", "gz", "alone")
            insert_queue(conn, "queue-gz2", "gz", "taken")
            insert_queue(conn, "queue-long", "ap-guangzhou", "taken")
            insert_queue(conn, "queue-sh", "sh", "other")
        migrate.upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT queue_id, region FROM queues")).all()
            regions = {str(queue_id): str(region) for queue_id, region in rows}
    finally:
        engine.dispose()

    assert regions == {
        "queue-gz1": "ap-guangzhou",
        "queue-gz2": "gz",  # its name is taken in ap-guangzhou: left, not merged or lost
        "queue-long": "ap-guangzhou",
        "queue-sh": "ap-shanghai",
    }
