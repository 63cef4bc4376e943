"""Drops messages past their queue's retention, and deleted ones past the rewind window."""

from __future__ import annotations

import asyncio
import logging

from batchd.mq.context import Context
from batchd.store.database import Tx
from batchd.store.repos import messages as message_repo
from batchd.store.repos import queues as queue_repo

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 60.0


async def run(ctx: Context, interval: float = INTERVAL_SECONDS) -> None:
    """Expiry is also enforced on every read, so this only reclaims space: once a minute."""
    while True:
        await asyncio.sleep(interval)
        try:
            removed = await ctx.db.write(lambda tx: purge_all(ctx, tx), leader_only=True)
        except Exception:
            log.exception("retention purge failed", extra={"event": "purge_failed"})
            continue
        if removed:
            log.info("purged expired messages", extra={"event": "purged", "count": removed})


def purge_all(ctx: Context, tx: Tx) -> int:
    now_ms = ctx.now_ms()
    return sum(
        message_repo.purge_expired(tx.conn, queue, now_ms)
        for queue in queue_repo.all_queues(tx.conn)
    )
