"""Queries over client tokens: which resource a request's ClientToken already created, so a
retried create answers with it instead of making another."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, delete, insert, select

from batchd.domain.scope import Scope
from batchd.store.tables_batch import client_tokens

_same_token = (
    client_tokens.c.account == bindparam("account"),
    client_tokens.c.region == bindparam("region"),
    client_tokens.c.kind == bindparam("kind"),
    client_tokens.c.token == bindparam("token"),
)
_token_owner = select(client_tokens.c.resource_id).where(
    *_same_token, client_tokens.c.created_ms >= bindparam("since_ms")
)
_forget_token = delete(client_tokens).where(*_same_token)
_insert_token = insert(client_tokens)


def token_owner(conn: Connection, scope: Scope, kind: str, token: str, since_ms: int) -> str | None:
    value = conn.execute(
        _token_owner,
        {
            "account": scope.account,
            "region": scope.region,
            "kind": kind,
            "token": token,
            "since_ms": since_ms,
        },
    ).scalar_one_or_none()
    return str(value) if value is not None else None


def remember_token(
    conn: Connection, scope: Scope, kind: str, token: str, resource_id: str, now_ms: int
) -> None:
    key = {"account": scope.account, "region": scope.region, "kind": kind, "token": token}
    conn.execute(_forget_token, key)
    conn.execute(_insert_token, {**key, "resource_id": resource_id, "created_ms": now_ms})
