"""The message service as one object: its parts, and the background work it runs."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from batchd.domain.ids import MessageId
from batchd.domain.message import Delivery
from batchd.domain.scope import Scope
from batchd.mq import janitor
from batchd.mq.context import Context
from batchd.mq.publish import Publisher, publish_in
from batchd.mq.push import PushDispatcher
from batchd.mq.queues import QueueService
from batchd.mq.topics import SubscriptionService, TopicService
from batchd.store.database import Conn, Tx
from batchd.store.repos import deliveries as delivery_repo
from batchd.store.repos import queues as queue_repo


class MessageService:
    def __init__(self, ctx: Context, *, push_timeout: float = 15.0) -> None:
        self.ctx = ctx
        self.queues = QueueService(ctx)
        self.topics = TopicService(ctx)
        self.subscriptions = SubscriptionService(ctx)
        self.publisher = Publisher(ctx)
        self.push = PushDispatcher(ctx, timeout=push_timeout)
        self._tasks: list[asyncio.Task[None]] = []

    def publish_in(
        self,
        tx: Tx,
        scope: Scope,
        topic_name: str,
        bodies: Sequence[bytes],
        *,
        tags: Sequence[str] = (),
        routing_key: str = "",
    ) -> list[MessageId]:
        """Publish inside the caller's unit of work (see `publish.publish_in`)."""
        return publish_in(
            self.ctx, tx, scope, topic_name, bodies, tags=tags, routing_key=routing_key
        )

    async def dead_letters(
        self, scope: Scope, topic_name: str | None, offset: int, limit: int
    ) -> tuple[int, list[Delivery]]:
        return await self.ctx.db.read(
            lambda conn: delivery_repo.dead_letters(conn, scope, topic_name, offset, limit)
        )

    async def redrive(self, scope: Scope, delivery_ids: Sequence[int] | None) -> int:
        ctx = self.ctx

        def work(tx: Tx) -> int:
            count = delivery_repo.redrive(tx.conn, scope, delivery_ids, ctx.now_ms())
            tx.announce("push")
            return count

        return await ctx.db.write(work)

    async def stats(self) -> tuple[list[tuple[str, str, str, int]], tuple[int, int]]:
        """Queue depths and (pending, dead-lettered) push deliveries, for /metrics."""

        def work(conn: Conn) -> tuple[list[tuple[str, str, str, int]], tuple[int, int]]:
            return queue_repo.depths(conn), delivery_repo.outcome_counts(conn)

        return await self.ctx.db.read(work)

    def start_leading(self) -> None:
        """The work of the leading replica: push deliveries and the retention purge."""
        self._tasks = [
            asyncio.create_task(self.push.run(), name="batchd-push"),
            asyncio.create_task(janitor.run(self.ctx), name="batchd-janitor"),
        ]

    async def stop_leading(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
