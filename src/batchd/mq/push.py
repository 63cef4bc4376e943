"""The push dispatcher: delivers pending deliveries to HTTP endpoints and unavailable queues.

It wakes on new deliveries (after their commit) and on the earliest retry time; it never scans
on a fixed interval. Every outcome is written back, so deliveries survive a restart. It runs on
the leading replica only, and its writes are leader work: a replica that lost the lease records
no outcome, and its successor delivers what is still pending.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import uuid
from collections import Counter

import httpx

from batchd.domain import errors
from batchd.domain import subscription as subscription_rules
from batchd.domain.message import Delivery
from batchd.domain.scope import Scope
from batchd.domain.subscription import ContentFormat, Protocol
from batchd.mq import queues
from batchd.mq.context import Context
from batchd.store.database import Conn, Tx
from batchd.store.repos import deliveries as repo
from batchd.store.repos import queues as queue_repo

log = logging.getLogger(__name__)

IDLE_WAIT_SECONDS = 3600.0


class PushDispatcher:
    def __init__(
        self,
        ctx: Context,
        *,
        concurrency: int = 32,
        timeout: float = subscription_rules.PUSH_TIMEOUT_SECONDS,
        verify_tls: bool = True,
    ) -> None:
        self._ctx = ctx
        self._concurrency = concurrency
        self._timeout = timeout
        self._verify_tls = verify_tls
        self._in_flight: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.outcomes: Counter[str] = Counter()

    async def run(self) -> None:
        ctx = self._ctx
        signal = ctx.signals.push
        async with httpx.AsyncClient(timeout=self._timeout, verify=self._verify_tls) as client:
            try:
                while True:
                    seen = signal.version
                    capacity = self._concurrency - len(self._in_flight)
                    if capacity > 0:
                        now_ms = ctx.now_ms()
                        due = await ctx.db.read(
                            functools.partial(
                                repo.due,
                                now_ms=now_ms,
                                limit=capacity,
                                exclude=list(self._in_flight),
                            )
                        )
                        for delivery in due:
                            self._start(client, delivery)
                        if len(due) == capacity:
                            continue
                    next_ms = await ctx.db.read(lambda c: self._next_due(c))
                    wait = IDLE_WAIT_SECONDS
                    if next_ms is not None:
                        wait = max(0.0, next_ms / 1000 - ctx.clock())
                    await signal.wait(seen, wait)
            finally:
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def _next_due(self, conn: Conn) -> int | None:
        if self._in_flight:
            # In-flight deliveries are still due in the table; look past them.
            due = repo.due(conn, 2**62, 1, list(self._in_flight))
            return due[0].next_attempt_ms if due else None
        return repo.next_due_ms(conn)

    def _start(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        self._in_flight.add(delivery.pk)
        task = asyncio.create_task(self._deliver(client, delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        try:
            if delivery.protocol is Protocol.HTTP:
                error = await self._post(client, delivery)
            else:
                error = await self._enqueue(delivery)
            await self._record(delivery, error)
        except Exception:
            log.exception("push delivery failed unexpectedly", extra={"event": "push_crashed"})
        finally:
            self._in_flight.discard(delivery.pk)
            self._ctx.signals.push.fire()

    async def _post(self, client: httpx.AsyncClient, delivery: Delivery) -> str | None:
        headers = {
            "x-cmq-request-id": str(uuid.uuid4()),
            "x-cmq-message-id": delivery.msg_id,
            "Content-Type": "text/plain",
        }
        if delivery.tags:
            headers["x-cmq-message-tag"] = ",".join(delivery.tags)
        content = delivery.body
        if delivery.content_format is ContentFormat.JSON:
            content = json.dumps(
                {
                    "TopicOwner": delivery.account,
                    "topicName": delivery.topic_name,
                    "subscriptionName": delivery.subscription_name,
                    "msgId": delivery.msg_id,
                    "msgBody": delivery.body.decode("utf-8", errors="replace"),
                    "publishTime": delivery.publish_ms // 1000,
                }
            ).encode("utf-8")
        try:
            response = await client.post(delivery.endpoint, content=content, headers=headers)
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    async def _enqueue(self, delivery: Delivery) -> str | None:
        ctx = self._ctx
        scope = Scope(delivery.account, delivery.region)

        def work(tx: Tx) -> None:
            queue = queue_repo.find(tx.conn, scope, delivery.endpoint)
            if queue is None:
                raise errors.QueueNotFound(resource=delivery.endpoint)
            if len(delivery.body) > queue.attributes.max_msg_size:
                raise errors.MessageTooLarge(resource=delivery.endpoint)
            queues.send_in(ctx, tx, queue, [delivery.body], 0)
            repo.finish(tx.conn, delivery.pk)

        try:
            await ctx.db.write(work, leader_only=True)
        except errors.BatchdError as error:
            return f"{type(error).__name__}: {error}"
        self.outcomes["delivered"] += 1
        return None

    async def _record(self, delivery: Delivery, error: str | None) -> None:
        ctx = self._ctx
        if error is None:
            if delivery.protocol is Protocol.HTTP:
                await ctx.db.write(lambda tx: repo.finish(tx.conn, delivery.pk), leader_only=True)
                self.outcomes["delivered"] += 1
            return
        attempts = delivery.attempts + 1
        now_ms = ctx.now_ms()
        delay = subscription_rules.next_retry_delay(
            delivery.notify_strategy,
            attempts,
            (now_ms - delivery.created_ms) / 1000,
            random.random(),
        )
        if delay is None:
            await ctx.db.write(
                lambda tx: repo.bury(tx.conn, delivery.pk, attempts, error), leader_only=True
            )
            self.outcomes["dead_lettered"] += 1
            log.warning(
                "push delivery exhausted its retries",
                extra={
                    "event": "push_dead_lettered",
                    "msg_id": delivery.msg_id,
                    "subscription": delivery.subscription_name,
                    "error": error,
                },
            )
            return
        next_ms = now_ms + int(delay * 1000)
        await ctx.db.write(
            lambda tx: repo.reschedule(tx.conn, delivery.pk, attempts, next_ms, error),
            leader_only=True,
        )
        self.outcomes["failed"] += 1
