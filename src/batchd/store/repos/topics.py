"""Queries over topics and their subscriptions."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from batchd.domain import ids
from batchd.domain.ids import SubscriptionId, TopicId
from batchd.domain.message import Subscription, Topic
from batchd.domain.scope import Scope
from batchd.domain.subscription import ContentFormat, NotifyStrategy, Protocol
from batchd.domain.topic import Filter, FilterType
from batchd.store.tables import deliveries, subscriptions, topic_messages, topics


def _to_topic(row: Any) -> Topic:
    return Topic(
        pk=row.pk,
        topic_id=TopicId(row.topic_id),
        name=row.name,
        max_msg_size=row.max_msg_size,
        filter_type=FilterType(row.filter_type),
        created_ms=row.created_ms,
        modified_ms=row.modified_ms,
    )


def _to_subscription(row: Any) -> Subscription:
    return Subscription(
        pk=row.pk,
        subscription_id=SubscriptionId(row.subscription_id),
        topic_pk=row.topic_pk,
        name=row.name,
        protocol=Protocol(row.protocol),
        endpoint=row.endpoint,
        notify_strategy=NotifyStrategy(row.notify_strategy),
        content_format=ContentFormat(row.content_format),
        filter=Filter(
            filter_tags=tuple(json.loads(row.filter_tags)),
            binding_keys=tuple(json.loads(row.binding_keys)),
        ),
        created_ms=row.created_ms,
        modified_ms=row.modified_ms,
    )


def find(conn: Connection, scope: Scope, name: str) -> Topic | None:
    row = conn.execute(
        select(topics).where(
            topics.c.account == scope.account,
            topics.c.region == scope.region,
            topics.c.name == name,
        )
    ).first()
    return _to_topic(row) if row is not None else None


def count(conn: Connection, scope: Scope) -> int:
    return conn.execute(
        select(func.count())
        .select_from(topics)
        .where(topics.c.account == scope.account, topics.c.region == scope.region)
    ).scalar_one()


def insert_topic(
    conn: Connection,
    scope: Scope,
    name: str,
    max_msg_size: int,
    filter_type: FilterType,
    now_ms: int,
) -> Topic:
    conn.execute(
        insert(topics).values(
            topic_id=ids.new_topic_id(),
            account=scope.account,
            region=scope.region,
            name=name,
            max_msg_size=max_msg_size,
            filter_type=int(filter_type),
            created_ms=now_ms,
            modified_ms=now_ms,
        )
    )
    found = find(conn, scope, name)
    assert found is not None
    return found


def set_max_msg_size(conn: Connection, topic: Topic, max_msg_size: int, now_ms: int) -> None:
    conn.execute(
        update(topics)
        .where(topics.c.pk == topic.pk)
        .values(max_msg_size=max_msg_size, modified_ms=now_ms)
    )


def delete_topic(conn: Connection, topic: Topic) -> None:
    conn.execute(delete(topic_messages).where(topic_messages.c.topic_pk == topic.pk))
    conn.execute(delete(topics).where(topics.c.pk == topic.pk))


def list_topics(
    conn: Connection, scope: Scope, search: str, offset: int, limit: int
) -> tuple[int, list[Topic]]:
    where = [topics.c.account == scope.account, topics.c.region == scope.region]
    if search:
        where.append(topics.c.name.contains(search, autoescape=True))
    total = conn.execute(select(func.count()).select_from(topics).where(*where)).scalar_one()
    rows = conn.execute(
        select(topics).where(*where).order_by(topics.c.pk).offset(offset).limit(limit)
    ).all()
    return total, [_to_topic(row) for row in rows]


def pending_message_count(conn: Connection, topic: Topic) -> int:
    """Published messages still held for at least one delivery."""
    return conn.execute(
        select(func.count())
        .select_from(topic_messages)
        .where(topic_messages.c.topic_pk == topic.pk)
    ).scalar_one()


# --- subscriptions ---------------------------------------------------------------------------


def find_subscription(conn: Connection, topic: Topic, name: str) -> Subscription | None:
    row = conn.execute(
        select(subscriptions).where(
            subscriptions.c.topic_pk == topic.pk, subscriptions.c.name == name
        )
    ).first()
    return _to_subscription(row) if row is not None else None


def subscriptions_of(conn: Connection, topic: Topic) -> list[Subscription]:
    rows = conn.execute(
        select(subscriptions)
        .where(subscriptions.c.topic_pk == topic.pk)
        .order_by(subscriptions.c.pk)
    ).all()
    return [_to_subscription(row) for row in rows]


def count_subscriptions(conn: Connection, topic: Topic) -> int:
    return conn.execute(
        select(func.count()).select_from(subscriptions).where(subscriptions.c.topic_pk == topic.pk)
    ).scalar_one()


def insert_subscription(
    conn: Connection,
    topic: Topic,
    *,
    name: str,
    protocol: Protocol,
    endpoint: str,
    notify_strategy: NotifyStrategy,
    content_format: ContentFormat,
    filter: Filter,
    now_ms: int,
) -> Subscription:
    conn.execute(
        insert(subscriptions).values(
            subscription_id=ids.new_subscription_id(),
            topic_pk=topic.pk,
            name=name,
            protocol=str(protocol),
            endpoint=endpoint,
            notify_strategy=str(notify_strategy),
            content_format=str(content_format),
            filter_tags=json.dumps(list(filter.filter_tags)),
            binding_keys=json.dumps(list(filter.binding_keys)),
            created_ms=now_ms,
            modified_ms=now_ms,
        )
    )
    found = find_subscription(conn, topic, name)
    assert found is not None
    return found


def update_subscription(
    conn: Connection,
    subscription: Subscription,
    *,
    notify_strategy: NotifyStrategy,
    content_format: ContentFormat,
    filter: Filter,
    now_ms: int,
) -> None:
    conn.execute(
        update(subscriptions)
        .where(subscriptions.c.pk == subscription.pk)
        .values(
            notify_strategy=str(notify_strategy),
            content_format=str(content_format),
            filter_tags=json.dumps(list(filter.filter_tags)),
            binding_keys=json.dumps(list(filter.binding_keys)),
            modified_ms=now_ms,
        )
    )


def delete_subscription(conn: Connection, subscription: Subscription) -> None:
    """Remove a subscription, its deliveries, and the messages no other delivery still holds."""
    conn.execute(delete(deliveries).where(deliveries.c.subscription_pk == subscription.pk))
    conn.execute(delete(subscriptions).where(subscriptions.c.pk == subscription.pk))
    still_held = select(deliveries.c.pk).where(deliveries.c.topic_message_pk == topic_messages.c.pk)
    conn.execute(
        delete(topic_messages).where(
            topic_messages.c.topic_pk == subscription.topic_pk, ~still_held.exists()
        )
    )


def list_subscriptions(
    conn: Connection, topic: Topic, search: str, offset: int, limit: int
) -> tuple[int, list[Subscription]]:
    where = [subscriptions.c.topic_pk == topic.pk]
    if search:
        where.append(subscriptions.c.name.contains(search, autoescape=True))
    total = conn.execute(select(func.count()).select_from(subscriptions).where(*where)).scalar_one()
    rows = conn.execute(
        select(subscriptions).where(*where).order_by(subscriptions.c.pk).offset(offset).limit(limit)
    ).all()
    return total, [_to_subscription(row) for row in rows]
