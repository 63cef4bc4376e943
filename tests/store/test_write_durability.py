"""Per-write durability: a group of writes that need not be durable commits without waiting for
the disk; a group with one durable write waits, for all of them."""

from __future__ import annotations

import asyncio
import time

from batchd.store import database, migrate
from batchd.store.database import Tx


def _sync_setting(tx: Tx) -> str:
    """What the commit of this unit's group will wait for, as the database says."""
    if tx.conn.dialect.name == "sqlite":
        level = tx.conn.exec_driver_sql("PRAGMA synchronous").scalar()
        return {1: "no fsync", 2: "fsync"}[int(str(level))]
    setting = tx.conn.exec_driver_sql("SHOW synchronous_commit").scalar()
    return {"off": "no fsync", "on": "fsync"}[str(setting)]


def test_only_groups_of_writes_that_need_not_be_durable_skip_the_disk(database_url: str) -> None:
    writer, reader = database.create_engines(database_url)
    migrate.upgrade(writer)
    db = database.Database(writer, reader)

    async def scenario() -> list[str]:
        db.start(asyncio.get_running_loop())
        try:
            relaxed = await db.write(_sync_setting, durable=False)
            durable = await db.write(_sync_setting)
            again = await db.write(_sync_setting, durable=False)
            # Together in one group, a durable write makes the whole commit wait for the disk.
            # (The writer is kept busy while both are queued, so that it takes them together.)
            busy = db.submit(lambda tx: time.sleep(0.3), durable=False)
            mixed = await asyncio.gather(
                db.write(_sync_setting, durable=False), db.write(_sync_setting)
            )
            busy.result()
            return [relaxed, durable, again, *mixed]
        finally:
            db.stop()

    settings = asyncio.run(scenario())

    assert settings[:3] == ["no fsync", "fsync", "no fsync"]
    assert settings[3:] == ["fsync", "fsync"]
