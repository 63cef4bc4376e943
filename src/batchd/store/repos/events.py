"""Stored lifecycle events: written in the same transaction as the transition they describe."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import Connection, insert, select

from batchd.store.tables_batch import events


def record(
    conn: Connection,
    *,
    account: str,
    region: str,
    resource_id: str,
    owner_id: str,
    name: str,
    sequence: int,
    body: dict[str, Any],
    now_ms: int,
) -> str:
    event_id = str(uuid.uuid4())
    conn.execute(
        insert(events).values(
            event_id=event_id,
            account=account,
            region=region,
            resource_id=resource_id,
            owner_id=owner_id,
            name=name,
            sequence=sequence,
            body=json.dumps(body),
            created_ms=now_ms,
        )
    )
    return event_id


def of_owner(conn: Connection, owner_id: str) -> list[tuple[str, str, int, dict[str, Any]]]:
    """(event id, name, sequence, body) of every event of a job or environment, in order."""
    rows = conn.execute(
        select(events.c.event_id, events.c.name, events.c.sequence, events.c.body)
        .where(events.c.owner_id == owner_id)
        .order_by(events.c.pk)
    ).all()
    return [(row[0], row[1], row[2], json.loads(row[3])) for row in rows]
