"""Routes each stored event to the topics its owner's `Notifications` name, inside the
transaction that stored it: the transition, the event and its messages commit together."""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from batchd.domain import errors
from batchd.domain import notifications as rules
from batchd.domain.notifications import StoredEvent
from batchd.domain.scope import Scope
from batchd.mq.context import Context
from batchd.mq.publish import publish_in
from batchd.store.database import Conn, Tx
from batchd.store.repos import events as event_repo
from batchd.store.repos import notifications as notification_repo

log = logging.getLogger(__name__)

# Notifications never change after SubmitJob / CreateComputeEnv, so they can be remembered.
_CACHED_OWNERS = 4096


class Notifier:
    def __init__(self, ctx: Context, *, base64_bodies: bool = True) -> None:
        self._ctx = ctx
        self._base64 = base64_bodies
        self._cache: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()

    def _notifications(self, conn: Conn, owner_id: str) -> list[dict[str, Any]]:
        cached = self._cache.get(owner_id)
        if cached is None:
            cached = notification_repo.of_owner(conn, owner_id)
            self._cache[owner_id] = cached
            if len(self._cache) > _CACHED_OWNERS:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(owner_id)
        return cached

    def publish(self, tx: Tx, scope: Scope, owner_id: str, event: StoredEvent) -> None:
        """Publish `event` to every topic that asked for it; when a topic cannot take it
        (deleted, no subscription, filtered out), the event is marked undeliverable instead."""
        notifications = self._notifications(tx.conn, owner_id)
        if not notifications:
            return
        problems = []
        for route in rules.routes(notifications, event.name):
            body = rules.message_body(event, route.event_vars, base64_encoded=self._base64)
            try:
                # Every refusal happens before publish_in writes anything.
                publish_in(
                    self._ctx,
                    tx,
                    scope,
                    route.topic,
                    [body],
                    tags=rules.tags(event.name),
                    routing_key=rules.routing_key(event.name),
                )
            except errors.BatchdError as exc:
                problems.append(f"topic {route.topic}: {exc}")
        if problems:
            reason = "; ".join(problems)
            event_repo.mark_undeliverable(tx, event.event_id, reason)
            log.warning(
                "event %s %s of %s is undeliverable: %s",
                event.name,
                event.event_id,
                owner_id,
                reason,
                extra={"event": "event_undeliverable", "owner_id": owner_id},
            )

    def republish(
        self, tx: Tx, scope: Scope, topic_name: str, event: StoredEvent, owner_id: str
    ) -> None:
        """Publish a stored event again to one topic (event replay); errors reach the caller.
        The `EventVars` are those of the owner's matching config for that topic, if any."""
        matching = [
            route
            for route in rules.routes(self._notifications(tx.conn, owner_id), event.name)
            if route.topic == topic_name
        ]
        event_vars = matching[0].event_vars if matching else []
        publish_in(
            self._ctx,
            tx,
            scope,
            topic_name,
            [rules.message_body(event, event_vars, base64_encoded=self._base64)],
            tags=rules.tags(event.name),
            routing_key=rules.routing_key(event.name),
        )
