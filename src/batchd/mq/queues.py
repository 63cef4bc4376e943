"""Queue actions: lifecycle, attributes, send, receive with long polling, delete, rewind."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from batchd.domain import errors
from batchd.domain import queue as queue_rules
from batchd.domain.ids import MessageId
from batchd.domain.message import PeekedMessage, Queue, QueueCounters, ReceivedMessage
from batchd.domain.queue import QueueAttributes
from batchd.domain.scope import Scope
from batchd.mq.context import Context
from batchd.store.database import Conn, Tx
from batchd.store.repos import messages as message_repo
from batchd.store.repos import queues as repo


def require(conn: Conn, scope: Scope, name: str) -> Queue:
    queue = repo.find(conn, scope, name)
    if queue is None:
        raise errors.QueueNotFound(parameter="queueName", resource=name)
    return queue


def send_in(
    ctx: Context, tx: Tx, queue: Queue, bodies: Sequence[bytes], delay_seconds: int
) -> list[MessageId]:
    """Store messages in `queue` within the caller's transaction and wake its receivers."""
    now_ms = ctx.now_ms()
    if not repo.reserve(tx.conn, queue, len(bodies)):
        # Expired messages may still be counted: drop them before refusing.
        message_repo.purge_expired(tx.conn, queue, now_ms)
        if not repo.reserve(tx.conn, queue, len(bodies)):
            raise errors.QueueFull(resource=queue.name)
    msg_ids = message_repo.insert_messages(tx.conn, queue, bodies, now_ms, delay_seconds * 1000)
    if delay_seconds == 0:
        tx.announce("queue", queue.pk, len(bodies))
    return msg_ids


class QueueService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def create(self, scope: Scope, name: str, changes: dict[str, object]) -> Queue:
        queue_rules.check_name(name)
        attributes = queue_rules.apply(QueueAttributes(), changes)
        ctx = self._ctx

        def work(tx: Tx) -> Queue:
            if repo.find(tx.conn, scope, name) is not None:
                raise errors.QueueExists(parameter="queueName", resource=name)
            if repo.count(tx.conn, scope) >= ctx.limits.max_queues:
                raise errors.QueueQuotaReached()
            return repo.insert_queue(tx.conn, scope, name, attributes, ctx.now_ms())

        return await ctx.db.write(work)

    async def set_attributes(self, scope: Scope, name: str, changes: dict[str, object]) -> None:
        ctx = self._ctx

        def work(tx: Tx) -> None:
            queue = require(tx.conn, scope, name)
            attributes = queue_rules.apply(queue.attributes, changes)
            repo.update_attributes(tx.conn, queue, attributes, ctx.now_ms())
            if attributes.rewind_seconds == 0 and queue.attributes.rewind_seconds > 0:
                message_repo.drop_rewindable(tx.conn, queue)

        await ctx.db.write(work)

    async def get(self, scope: Scope, name: str) -> tuple[Queue, QueueCounters]:
        now_ms = self._ctx.now_ms()

        def work(conn: Conn) -> tuple[Queue, QueueCounters]:
            queue = require(conn, scope, name)
            return queue, message_repo.counters(conn, queue, now_ms)

        return await self._ctx.db.read(work)

    async def dead_letter_sources(self, scope: Scope, name: str) -> list[Queue]:
        """The queues whose dead letters go to the queue `name`."""
        return await self._ctx.db.read(lambda conn: repo.dead_letter_sources(conn, scope, name))

    async def delete(self, scope: Scope, name: str) -> None:
        def work(tx: Tx) -> None:
            repo.delete_queue(tx.conn, require(tx.conn, scope, name))

        await self._ctx.db.write(work)

    async def page(
        self, scope: Scope, search: str, offset: int, limit: int
    ) -> tuple[int, list[Queue]]:
        return await self._ctx.db.read(
            lambda conn: repo.list_queues(conn, scope, search, offset, limit)
        )

    async def send(
        self, scope: Scope, name: str, bodies: Sequence[str], delay_seconds: int
    ) -> list[MessageId]:
        queue_rules.check_delay(delay_seconds)
        ctx = self._ctx

        def work(tx: Tx) -> list[MessageId]:
            queue = require(tx.conn, scope, name)
            encoded = queue_rules.check_bodies(list(bodies), queue.attributes.max_msg_size)
            return send_in(ctx, tx, queue, encoded, delay_seconds)

        return await ctx.db.write(work)

    async def receive(
        self, scope: Scope, name: str, count: int, polling_wait_seconds: int | None
    ) -> list[ReceivedMessage]:
        """Receive up to `count` messages, long-polling until one is visible or the wait ends."""
        ctx = self._ctx
        if polling_wait_seconds is not None:
            queue_rules.check_polling_wait(polling_wait_seconds)
        loop = asyncio.get_running_loop()
        started = loop.time()

        def work(tx: Tx) -> tuple[Queue, list[ReceivedMessage], int | None]:
            now_ms = ctx.now_ms()
            queue = require(tx.conn, scope, name)
            received = message_repo.receive(
                tx.conn,
                scope,
                queue,
                count,
                now_ms,
                on_dead_letter=lambda dead: tx.announce("queue", dead.pk, 1),
            )
            wake_ms = None if received else message_repo.next_visible_ms(tx.conn, queue, now_ms)
            return queue, received, wake_ms

        # A receive need not wait for the disk: lost only with the machine, its messages are
        # visible again, and delivered again, as at-least-once allows.
        queue, received, wake_ms = await ctx.db.write(work, durable=False)
        if received:
            return received
        wait = (
            polling_wait_seconds
            if polling_wait_seconds is not None
            else queue.attributes.polling_wait_seconds
        )
        deadline = started + wait
        signal = ctx.signals.queue(queue.pk)
        signal.waiters += 1
        try:
            while True:
                seen = signal.version
                remaining = deadline - loop.time()
                if remaining <= 0 or ctx.signals.closing:
                    return []
                if wake_ms is not None:
                    remaining = min(remaining, max(0.0, wake_ms / 1000 - ctx.clock()) + 0.001)
                await signal.wait(seen, remaining, takes=count)
                queue, received, wake_ms = await ctx.db.write(work, durable=False)
                if received:
                    return received
        finally:
            signal.waiters -= 1
            ctx.signals.release(queue.pk)

    async def delete_messages(self, scope: Scope, name: str, handles: Sequence[str]) -> list[str]:
        """Delete by receipt handles; returns the handles that were not valid."""
        ctx = self._ctx

        def work(tx: Tx) -> list[str]:
            queue = require(tx.conn, scope, name)
            now_ms = ctx.now_ms()
            return message_repo.delete_messages(tx.conn, queue, handles, now_ms)

        # Lost only with the machine: the message is then delivered again (at-least-once).
        return await ctx.db.write(work, durable=False)

    async def rewind(self, scope: Scope, name: str, start_consume_time: int) -> int:
        ctx = self._ctx

        def work(tx: Tx) -> int:
            queue = require(tx.conn, scope, name)
            rewind_seconds = queue.attributes.rewind_seconds
            if rewind_seconds == 0:
                raise errors.RewindDisabled(resource=name)
            now_s = ctx.now_ms() // 1000
            if not now_s - rewind_seconds <= start_consume_time <= now_s:
                raise errors.InvalidRewindTime(parameter="startConsumeTime")
            restored = message_repo.rewind(tx.conn, queue, start_consume_time * 1000, ctx.now_ms())
            tx.announce("queue", queue.pk)
            return restored

        return await ctx.db.write(work)

    async def peek(
        self, scope: Scope, name: str, limit: int, offset: int = 0
    ) -> list[PeekedMessage]:
        """A queue's stored messages, oldest first, without receiving them: nothing about them
        changes (visibility, receive count, receipt handles)."""
        now_ms = self._ctx.now_ms()

        def work(conn: Conn) -> list[PeekedMessage]:
            return message_repo.peek(conn, require(conn, scope, name), limit, now_ms, offset)

        return await self._ctx.db.read(work)

    async def purge(self, scope: Scope, name: str) -> None:
        """Drop every message of a queue (the CLI's `queue purge`)."""

        def work(tx: Tx) -> None:
            queue = require(tx.conn, scope, name)
            message_repo.delete_all_messages(tx.conn, queue)

        await self._ctx.db.write(work)
