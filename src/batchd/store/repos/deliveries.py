"""Queries over published messages held for delivery and their per-subscription deliveries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from batchd.domain.ids import MessageId
from batchd.domain.message import Delivery
from batchd.domain.scope import Scope
from batchd.domain.subscription import ContentFormat, NotifyStrategy, Protocol
from batchd.store.tables import deliveries, subscriptions, topic_messages, topics


def hold_message(
    conn: Connection,
    topic_pk: int,
    msg_id: MessageId,
    body: bytes,
    tags: Sequence[str],
    routing_key: str,
    now_ms: int,
) -> int:
    """Store a published message for later deliveries; returns its key."""
    result = conn.execute(
        insert(topic_messages).values(
            topic_pk=topic_pk,
            msg_id=msg_id,
            body=body,
            tags=json.dumps(list(tags)),
            routing_key=routing_key,
            publish_ms=now_ms,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def add(conn: Connection, rows: Sequence[tuple[int, int]], now_ms: int) -> None:
    """Create a due delivery for each (subscription key, held message key)."""
    if rows:
        conn.execute(
            insert(deliveries),
            [
                {
                    "subscription_pk": subscription_pk,
                    "topic_message_pk": message_pk,
                    "attempts": 0,
                    "next_attempt_ms": now_ms,
                    "dead": False,
                    "last_error": "",
                    "created_ms": now_ms,
                }
                for subscription_pk, message_pk in rows
            ],
        )


_COLUMNS = (
    deliveries.c.pk,
    topics.c.account,
    topics.c.region,
    topics.c.name.label("topic_name"),
    subscriptions.c.name.label("subscription_name"),
    subscriptions.c.protocol,
    subscriptions.c.endpoint,
    subscriptions.c.notify_strategy,
    subscriptions.c.content_format,
    topic_messages.c.msg_id,
    topic_messages.c.body,
    topic_messages.c.tags,
    topic_messages.c.publish_ms,
    deliveries.c.attempts,
    deliveries.c.next_attempt_ms,
    deliveries.c.dead,
    deliveries.c.last_error,
    deliveries.c.created_ms,
)


def _joined() -> Any:
    return (
        select(*_COLUMNS)
        .select_from(deliveries)
        .join(subscriptions, subscriptions.c.pk == deliveries.c.subscription_pk)
        .join(topic_messages, topic_messages.c.pk == deliveries.c.topic_message_pk)
        .join(topics, topics.c.pk == topic_messages.c.topic_pk)
    )


def _to_delivery(row: Any) -> Delivery:
    return Delivery(
        pk=row.pk,
        account=row.account,
        region=row.region,
        topic_name=row.topic_name,
        subscription_name=row.subscription_name,
        protocol=Protocol(row.protocol),
        endpoint=row.endpoint,
        notify_strategy=NotifyStrategy(row.notify_strategy),
        content_format=ContentFormat(row.content_format),
        msg_id=MessageId(row.msg_id),
        body=row.body,
        tags=tuple(json.loads(row.tags)),
        publish_ms=row.publish_ms,
        attempts=row.attempts,
        next_attempt_ms=row.next_attempt_ms,
        dead=bool(row.dead),
        last_error=row.last_error,
        created_ms=row.created_ms,
    )


def due(conn: Connection, now_ms: int, limit: int, exclude: Sequence[int]) -> list[Delivery]:
    query = _joined().where(deliveries.c.dead.is_(False), deliveries.c.next_attempt_ms <= now_ms)
    if exclude:
        query = query.where(deliveries.c.pk.not_in(list(exclude)))
    rows = conn.execute(query.order_by(deliveries.c.next_attempt_ms).limit(limit)).all()
    return [_to_delivery(row) for row in rows]


def next_due_ms(conn: Connection) -> int | None:
    value = conn.execute(
        select(func.min(deliveries.c.next_attempt_ms)).where(deliveries.c.dead.is_(False))
    ).scalar_one()
    return int(value) if value is not None else None


def get(conn: Connection, pk: int) -> Delivery | None:
    row = conn.execute(_joined().where(deliveries.c.pk == pk)).first()
    return _to_delivery(row) if row is not None else None


def finish(conn: Connection, pk: int) -> None:
    """Forget a delivered (or abandoned) delivery, and its message once nothing else holds it."""
    message_pk = conn.execute(
        select(deliveries.c.topic_message_pk).where(deliveries.c.pk == pk)
    ).scalar_one_or_none()
    if message_pk is None:
        return
    conn.execute(delete(deliveries).where(deliveries.c.pk == pk))
    remaining = conn.execute(
        select(func.count())
        .select_from(deliveries)
        .where(deliveries.c.topic_message_pk == message_pk)
    ).scalar_one()
    if remaining == 0:
        conn.execute(delete(topic_messages).where(topic_messages.c.pk == message_pk))


def reschedule(conn: Connection, pk: int, attempts: int, next_attempt_ms: int, error: str) -> None:
    conn.execute(
        update(deliveries)
        .where(deliveries.c.pk == pk)
        .values(attempts=attempts, next_attempt_ms=next_attempt_ms, last_error=error)
    )


def bury(conn: Connection, pk: int, attempts: int, error: str) -> None:
    """Keep a delivery that exhausted its retries in the dead-letter list."""
    conn.execute(
        update(deliveries)
        .where(deliveries.c.pk == pk)
        .values(attempts=attempts, dead=True, last_error=error)
    )


def dead_letters(
    conn: Connection, scope: Scope, topic_name: str | None, offset: int, limit: int
) -> tuple[int, list[Delivery]]:
    where = [
        deliveries.c.dead.is_(True),
        topics.c.account == scope.account,
        topics.c.region == scope.region,
    ]
    if topic_name:
        where.append(topics.c.name == topic_name)
    total = conn.execute(
        select(func.count())
        .select_from(deliveries)
        .join(topic_messages, topic_messages.c.pk == deliveries.c.topic_message_pk)
        .join(topics, topics.c.pk == topic_messages.c.topic_pk)
        .where(*where)
    ).scalar_one()
    rows = conn.execute(
        _joined().where(*where).order_by(deliveries.c.pk).offset(offset).limit(limit)
    )
    return total, [_to_delivery(row) for row in rows]


def redrive(conn: Connection, scope: Scope, pks: Sequence[int] | None, now_ms: int) -> int:
    """Make dead-lettered deliveries (all of the scope when `pks` is None) due again."""
    owned = (
        select(deliveries.c.pk)
        .join(topic_messages, topic_messages.c.pk == deliveries.c.topic_message_pk)
        .join(topics, topics.c.pk == topic_messages.c.topic_pk)
        .where(
            deliveries.c.dead.is_(True),
            topics.c.account == scope.account,
            topics.c.region == scope.region,
        )
    )
    if pks is not None:
        owned = owned.where(deliveries.c.pk.in_(list(pks)))
    result = conn.execute(
        update(deliveries)
        .where(deliveries.c.pk.in_(owned.scalar_subquery()))
        .values(dead=False, attempts=0, next_attempt_ms=now_ms, created_ms=now_ms, last_error="")
    )
    return int(result.rowcount)


def pending_by_subscription(conn: Connection, subscription_pk: int) -> int:
    return conn.execute(
        select(func.count())
        .select_from(deliveries)
        .where(deliveries.c.subscription_pk == subscription_pk, deliveries.c.dead.is_(False))
    ).scalar_one()


def outcome_counts(conn: Connection) -> tuple[int, int]:
    """(pending, dead-lettered) deliveries across all accounts."""
    rows = conn.execute(select(deliveries.c.dead, func.count()).group_by(deliveries.c.dead)).all()
    counts = {bool(row[0]): int(row[1]) for row in rows}
    return counts.get(False, 0), counts.get(True, 0)
