"""Topic and subscription actions."""

from __future__ import annotations

from collections.abc import Sequence

from batchd.domain import errors
from batchd.domain import subscription as subscription_rules
from batchd.domain import topic as topic_rules
from batchd.domain.message import Subscription, Topic
from batchd.domain.scope import Scope
from batchd.domain.subscription import ContentFormat, NotifyStrategy, Protocol
from batchd.domain.topic import Filter, FilterType
from batchd.mq.context import Context
from batchd.store.database import Conn, Tx
from batchd.store.repos import deliveries as delivery_repo
from batchd.store.repos import queues as queue_repo
from batchd.store.repos import topics as repo


def require(conn: Conn, scope: Scope, name: str) -> Topic:
    topic = repo.find(conn, scope, name)
    if topic is None:
        raise errors.TopicNotFound(parameter="topicName", resource=name)
    return topic


def require_subscription(conn: Conn, topic: Topic, name: str) -> Subscription:
    subscription = repo.find_subscription(conn, topic, name)
    if subscription is None:
        raise errors.SubscriptionNotFound(parameter="subscriptionName", resource=name)
    return subscription


class TopicService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def create(self, scope: Scope, name: str, max_msg_size: int, filter_type: int) -> Topic:
        topic_rules.check_name(name)
        topic_rules.check_max_msg_size(max_msg_size)
        kind = topic_rules.check_filter_type(filter_type)
        ctx = self._ctx

        def work(tx: Tx) -> Topic:
            if repo.find(tx.conn, scope, name) is not None:
                raise errors.TopicExists(parameter="topicName", resource=name)
            if repo.count(tx.conn, scope) >= ctx.limits.max_topics:
                raise errors.TopicQuotaReached()
            return repo.insert_topic(tx.conn, scope, name, max_msg_size, kind, ctx.now_ms())

        return await ctx.db.write(work)

    async def set_attributes(self, scope: Scope, name: str, max_msg_size: int | None) -> None:
        if max_msg_size is not None:
            topic_rules.check_max_msg_size(max_msg_size)
        ctx = self._ctx

        def work(tx: Tx) -> None:
            topic = require(tx.conn, scope, name)
            if max_msg_size is not None:
                repo.set_max_msg_size(tx.conn, topic, max_msg_size, ctx.now_ms())

        await ctx.db.write(work)

    async def get(self, scope: Scope, name: str) -> tuple[Topic, int]:
        """The topic and how many published messages it still holds for delivery."""

        def work(conn: Conn) -> tuple[Topic, int]:
            topic = require(conn, scope, name)
            return topic, repo.pending_message_count(conn, topic)

        return await self._ctx.db.read(work)

    async def delete(self, scope: Scope, name: str) -> None:
        def work(tx: Tx) -> None:
            topic = require(tx.conn, scope, name)
            if repo.count_subscriptions(tx.conn, topic):
                raise errors.TopicHasSubscriptions(resource=name)
            repo.delete_topic(tx.conn, topic)

        await self._ctx.db.write(work)

    async def page(
        self, scope: Scope, search: str, offset: int, limit: int
    ) -> tuple[int, list[Topic]]:
        return await self._ctx.db.read(
            lambda conn: repo.list_topics(conn, scope, search, offset, limit)
        )


class SubscriptionService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def subscribe(
        self,
        scope: Scope,
        topic_name: str,
        name: str,
        *,
        protocol: str,
        endpoint: str,
        notify_strategy: str,
        content_format: str | None,
        filter_tags: Sequence[str],
        binding_keys: Sequence[str],
    ) -> Subscription:
        subscription_rules.check_name(name)
        kind = subscription_rules.check_protocol(protocol)
        subscription_rules.check_endpoint(endpoint, kind)
        strategy = subscription_rules.check_strategy(notify_strategy)
        default_format = "SIMPLIFIED" if kind is Protocol.QUEUE else "JSON"
        fmt = subscription_rules.check_content_format(content_format or default_format, kind)
        tags = topic_rules.check_filter_tags(filter_tags)
        keys = topic_rules.check_binding_keys(binding_keys)
        ctx = self._ctx

        def work(tx: Tx) -> Subscription:
            topic = require(tx.conn, scope, topic_name)
            if topic.filter_type is FilterType.ROUTING_KEY and not keys:
                raise errors.MissingBindingKey(parameter="bindingKey")
            if repo.find_subscription(tx.conn, topic, name) is not None:
                raise errors.SubscriptionExists(parameter="subscriptionName", resource=name)
            if (
                repo.count_subscriptions(tx.conn, topic)
                >= subscription_rules.MAX_SUBSCRIPTIONS_PER_TOPIC
            ):
                raise errors.SubscriptionQuotaReached()
            if kind is Protocol.QUEUE and queue_repo.find(tx.conn, scope, endpoint) is None:
                raise errors.QueueNotFound(parameter="endpoint", resource=endpoint)
            return repo.insert_subscription(
                tx.conn,
                topic,
                name=name,
                protocol=kind,
                endpoint=endpoint,
                notify_strategy=strategy,
                content_format=fmt,
                filter=Filter(filter_tags=tags, binding_keys=keys),
                now_ms=ctx.now_ms(),
            )

        return await ctx.db.write(work)

    async def unsubscribe(self, scope: Scope, topic_name: str, name: str) -> None:
        def work(tx: Tx) -> None:
            topic = require(tx.conn, scope, topic_name)
            repo.delete_subscription(tx.conn, require_subscription(tx.conn, topic, name))

        await self._ctx.db.write(work)

    async def page(
        self, scope: Scope, topic_name: str, search: str, offset: int, limit: int
    ) -> tuple[int, list[Subscription]]:
        def work(conn: Conn) -> tuple[int, list[Subscription]]:
            topic = require(conn, scope, topic_name)
            return repo.list_subscriptions(conn, topic, search, offset, limit)

        return await self._ctx.db.read(work)

    async def get(self, scope: Scope, topic_name: str, name: str) -> tuple[Subscription, int]:
        """The subscription and its pending deliveries."""

        def work(conn: Conn) -> tuple[Subscription, int]:
            subscription = require_subscription(conn, require(conn, scope, topic_name), name)
            return subscription, delivery_repo.pending_by_subscription(conn, subscription.pk)

        return await self._ctx.db.read(work)

    async def set_attributes(
        self,
        scope: Scope,
        topic_name: str,
        name: str,
        *,
        notify_strategy: str | None,
        content_format: str | None,
        filter_tags: Sequence[str] | None,
        binding_keys: Sequence[str] | None,
    ) -> None:
        ctx = self._ctx

        def work(tx: Tx) -> None:
            topic = require(tx.conn, scope, topic_name)
            current = require_subscription(tx.conn, topic, name)
            strategy: NotifyStrategy = (
                subscription_rules.check_strategy(notify_strategy)
                if notify_strategy is not None
                else current.notify_strategy
            )
            fmt: ContentFormat = (
                subscription_rules.check_content_format(content_format, current.protocol)
                if content_format is not None
                else current.content_format
            )
            new_filter = Filter(
                filter_tags=topic_rules.check_filter_tags(filter_tags)
                if filter_tags is not None
                else current.filter.filter_tags,
                binding_keys=topic_rules.check_binding_keys(binding_keys)
                if binding_keys is not None
                else current.filter.binding_keys,
            )
            if topic.filter_type is FilterType.ROUTING_KEY and not new_filter.binding_keys:
                raise errors.MissingBindingKey(parameter="bindingKey")
            repo.update_subscription(
                tx.conn,
                current,
                notify_strategy=strategy,
                content_format=fmt,
                filter=new_filter,
                now_ms=ctx.now_ms(),
            )

        await ctx.db.write(work)
