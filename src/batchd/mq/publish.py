"""Publishing: fan a message out to every accepting subscription in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence

from batchd.domain import errors, ids
from batchd.domain import topic as topic_rules
from batchd.domain.ids import MessageId
from batchd.domain.message import Queue, Subscription, Topic
from batchd.domain.scope import Scope
from batchd.domain.subscription import Protocol
from batchd.mq import queues, topics
from batchd.mq.context import Context
from batchd.store.database import Tx
from batchd.store.repos import deliveries as delivery_repo
from batchd.store.repos import queues as queue_repo
from batchd.store.repos import topics as topic_repo


def publish_in(
    ctx: Context,
    tx: Tx,
    scope: Scope,
    topic_name: str,
    bodies: Sequence[bytes],
    *,
    tags: Sequence[str] = (),
    routing_key: str = "",
) -> list[MessageId]:
    """Publish within the caller's transaction: the messages land in every subscribed queue,
    and a push delivery is recorded for every HTTP subscriber, only if the caller commits.

    This is the in-process entry point for components that publish atomically with their own
    state changes; the PublishMessage action uses it too.
    """
    topic, subscriptions = _topic_of(tx, scope, topic_name)
    for body in bodies:
        if not body:
            raise errors.EmptyMessageBody(parameter="msgBody")
        if len(body) > topic.max_msg_size:
            raise errors.MessageTooLarge(parameter="msgBody")
    if not subscriptions:
        raise errors.TopicWithoutSubscription(resource=topic_name)
    accepting = [
        subscription
        for subscription in subscriptions
        if topic_rules.accepts(topic.filter_type, subscription.filter, tags, routing_key)
    ]
    if not accepting:
        raise errors.NoSubscriptionMatched(resource=topic_name)

    msg_ids = [ids.new_message_id() for _ in bodies]
    deferred = []
    for subscription in accepting:
        if subscription.protocol is Protocol.QUEUE and _deliver_to_queue(
            ctx, tx, scope, subscription.endpoint, bodies
        ):
            continue
        deferred.append(subscription)
    if deferred:
        now_ms = ctx.now_ms()
        for msg_id, body in zip(msg_ids, bodies, strict=True):
            held = delivery_repo.hold_message(
                tx.conn, topic.pk, msg_id, body, tags, routing_key, now_ms
            )
            delivery_repo.add(tx.conn, [(s.pk, held) for s in deferred], now_ms)
        tx.announce("push")
    return msg_ids


def _topic_of(tx: Tx, scope: Scope, name: str) -> tuple[Topic, list[Subscription]]:
    """The topic and its subscriptions, read once per unit of work."""
    key = ("publish.topic", scope, name)
    found: tuple[Topic, list[Subscription]] | None = tx.memo.get(key)
    if found is None:
        topic = topics.require(tx.conn, scope, name)
        found = tx.memo[key] = (topic, topic_repo.subscriptions_of(tx.conn, topic))
    return found


def _deliver_to_queue(
    ctx: Context, tx: Tx, scope: Scope, queue_name: str, bodies: Sequence[bytes]
) -> bool:
    """Write into a subscribed queue now; False when it must be retried later (missing, full)."""
    key = ("publish.queue", scope, queue_name)
    if key not in tx.memo:
        tx.memo[key] = queue_repo.find(tx.conn, scope, queue_name)
    queue: Queue | None = tx.memo[key]
    if queue is None or any(len(body) > queue.attributes.max_msg_size for body in bodies):
        return False
    try:
        # No savepoint needed: send_in refuses before it inserts (its only earlier write
        # drops expired messages, which may stay dropped).
        queues.send_in(ctx, tx, queue, bodies, 0)
    except errors.QueueFull:
        return False
    return True


class Publisher:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def publish(
        self,
        scope: Scope,
        topic_name: str,
        bodies: Sequence[str],
        tags: Sequence[str],
        routing_key: str,
    ) -> list[MessageId]:
        checked_tags = topic_rules.check_message_tags(tags)
        topic_rules.check_key(routing_key, "routingKey")
        encoded = [body.encode("utf-8") for body in bodies]
        ctx = self._ctx
        return await ctx.db.write(
            lambda tx: publish_in(
                ctx, tx, scope, topic_name, encoded, tags=checked_tags, routing_key=routing_key
            )
        )
