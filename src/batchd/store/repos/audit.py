"""Queries over the audit trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select

from batchd.domain.audit import AuditEntry, Call
from batchd.store.prepared import Prepared
from batchd.store.tables_accounts import audit

SUCCESS = "0"

# Every accepted change of every request writes one.
_insert = Prepared(insert(audit))


def record(conn: Connection, call: Call, at_ms: int) -> None:
    _insert.run(
        conn,
        {
            "at_ms": at_ms,
            "secret_id": call.secret_id,
            "account": call.account,
            "region": call.region,
            "protocol": call.protocol,
            "action": call.action,
            "resource": call.resource,
            "result": SUCCESS,
            "request_id": call.request_id,
        },
    )


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        entry_id=row.pk,
        at_ms=row.at_ms,
        secret_id=row.secret_id,
        account=row.account,
        region=row.region,
        protocol=row.protocol,
        action=row.action,
        resource=row.resource,
        result=row.result,
        request_id=row.request_id,
    )


def entries(
    conn: Connection, account: str | None, since_ms: int, after_id: int, limit: int
) -> list[AuditEntry]:
    """Entries after `after_id` and not older than `since_ms`, oldest first."""
    query = (
        select(audit)
        .where(audit.c.pk > after_id, audit.c.at_ms >= since_ms)
        .order_by(audit.c.pk)
        .limit(limit)
    )
    if account is not None:
        query = query.where(audit.c.account == account)
    return [_entry(row) for row in conn.execute(query).all()]


def purge_before(conn: Connection, before_ms: int) -> int:
    return conn.execute(delete(audit).where(audit.c.at_ms < before_ms)).rowcount
