"""What the batch service's parts share: the controller they wake and the checks every creation
makes (ClientToken idempotency, notification topics)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from batchd.control.controller import Controller
from batchd.control.notify import Notifier
from batchd.domain import errors
from batchd.domain.scope import Scope
from batchd.mq.context import Context
from batchd.store.database import Conn, Tx
from batchd.store.repos import client_tokens as client_token_repo
from batchd.store.repos import topics as topic_repo

TOKEN_WINDOW_MS = 24 * 3600 * 1000

log = logging.getLogger(__name__)


class ServiceBase:
    """A part of the batch service: the context, controller and notifier its operations use."""

    def __init__(self, ctx: Context, controller: Controller, notifier: Notifier) -> None:
        self._ctx = ctx
        self._controller = controller
        self._notifier = notifier

    def _wake_after(self, tx: Tx) -> None:
        """Environments or nodes changed: the controller reads them again once this commits."""
        tx.announce("envs")

    def _check_nodes_can_start(self, zone: str, count: int) -> None:
        """Refuse to create nodes in a zone whose nodes batchd does not start (setting zones)."""
        source = self._controller.zones.of(zone)
        if count > 0 and not source.starts_nodes:
            raise errors.Unsupported(
                f"batchd starts no compute nodes in zone {zone}: its nodes are the workers of the "
                f"Dask scheduler at {source.scheduler}. Use DesiredComputeNodeCount 0, start "
                f"workers with `dask worker {source.scheduler} --name NAME`, and attach them "
                "(AttachInstances)",
                parameter="Placement.Zone",
            )

    def _check_notifications(
        self, conn: Conn, scope: Scope, notifications: Sequence[dict[str, Any]]
    ) -> None:
        for notification in notifications:
            name = notification["TopicName"]
            topic = topic_repo.find(conn, scope, name)
            if topic is None:
                raise errors.InvalidParameter(
                    f"topic {name} does not exist in this account and region: create it first",
                    parameter="TopicName",
                    code="InvalidParameter.NotificationTopicName",
                )
            if not topic_repo.subscriptions_of(conn, topic):
                # Accepted (events.md §2.3): a subscriber may be added before the first event.
                log.warning(
                    "topic %s has no subscription yet: its events will be undeliverable "
                    "until one is added",
                    name,
                    extra={"event": "notification_topic_unsubscribed", "topic": name},
                )

    @staticmethod
    def _earlier(tx: Tx, scope: Scope, kind: str, token: str, now_ms: int) -> str | None:
        """The resource an earlier request with this ClientToken created (idempotency, 24 h)."""
        if not token:
            return None
        return client_token_repo.token_owner(tx.conn, scope, kind, token, now_ms - TOKEN_WINDOW_MS)
