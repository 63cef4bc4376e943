"""Stored lifecycle events: written in the same transaction as the transition they describe,
kept after their job or environment is gone (the event history)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select, update

from batchd.domain.notifications import StoredEvent
from batchd.domain.scope import Scope
from batchd.store.database import Tx
from batchd.store.tables_batch import events


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    pk: int
    resource_id: str
    owner_id: str
    event: StoredEvent
    undeliverable: str | None


def record(
    tx: Tx,
    *,
    account: str,
    region: str,
    resource_id: str,
    owner_id: str,
    name: str,
    sequence: int,
    body: dict[str, Any],
    now_ms: int,
) -> StoredEvent:
    """Store an event with the unit of work `tx` (inserted when the unit ends, in order)."""
    event_id = str(uuid.uuid4())
    tx.defer_insert(
        events,
        {
            "event_id": event_id,
            "account": account,
            "region": region,
            "resource_id": resource_id,
            "owner_id": owner_id,
            "name": name,
            "sequence": sequence,
            "body": json.dumps(body),
            "created_ms": now_ms,
            "undeliverable": None,
        },
    )
    return StoredEvent(event_id, name, region, sequence, now_ms, body)


def mark_undeliverable(tx: Tx, event_id: str, reason: str) -> None:
    tx.flush()
    tx.conn.execute(
        update(events).where(events.c.event_id == event_id).values(undeliverable=reason)
    )


def undeliverable_count(conn: Connection) -> int:
    query = select(func.count()).select_from(events).where(events.c.undeliverable.is_not(None))
    return int(conn.execute(query).scalar_one())


def _entry(row: Any) -> HistoryEntry:
    event = StoredEvent(
        row.event_id, row.name, row.region, row.sequence, row.created_ms, json.loads(row.body)
    )
    return HistoryEntry(row.pk, row.resource_id, row.owner_id, event, row.undeliverable)


def of_owner(
    conn: Connection, scope: Scope, owner_id: str, *, after_pk: int = 0, limit: int | None = None
) -> list[HistoryEntry]:
    """Every event of a job or environment (and of its nodes), oldest first."""
    query = (
        select(events)
        .where(
            events.c.account == scope.account,
            events.c.region == scope.region,
            events.c.owner_id == owner_id,
            events.c.pk > after_pk,
        )
        .order_by(events.c.pk)
        .limit(limit)
    )
    return [_entry(row) for row in conn.execute(query)]


def by_ids(conn: Connection, scope: Scope, event_ids: list[str]) -> list[HistoryEntry]:
    query = (
        select(events)
        .where(
            events.c.account == scope.account,
            events.c.region == scope.region,
            events.c.event_id.in_(event_ids),
        )
        .order_by(events.c.pk)
    )
    return [_entry(row) for row in conn.execute(query)]


def _owner_filter(scope: Scope, owner_id: str, after_pk: int) -> list[Any]:
    return [
        events.c.account == scope.account,
        events.c.region == scope.region,
        events.c.owner_id == owner_id,
        events.c.pk > after_pk,
    ]


def count_of_owner(conn: Connection, scope: Scope, owner_id: str, *, after_pk: int = 0) -> int:
    """How many events `of_owner` would list without a limit."""
    query = (
        select(func.count()).select_from(events).where(*_owner_filter(scope, owner_id, after_pk))
    )
    return int(conn.execute(query).scalar_one())


def page_of_owner(
    conn: Connection,
    scope: Scope,
    owner_id: str,
    *,
    after_pk: int = 0,
    offset: int = 0,
    limit: int | None = None,
) -> list[HistoryEntry]:
    """A page of `of_owner`: skip `offset` events, then at most `limit` (None: all)."""
    query = (
        select(events)
        .where(*_owner_filter(scope, owner_id, after_pk))
        .order_by(events.c.pk)
        .offset(offset)
        .limit(limit)
    )
    return [_entry(row) for row in conn.execute(query)]
