"""Queries over accounts and their API keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from batchd.domain.account import Account, ApiKey, Credential
from batchd.store.tables_accounts import accounts, api_keys


def _account(row: Any) -> Account:
    return Account(
        app_id=row.app_id, name=row.name, admin=bool(row.admin), created_ms=row.created_ms
    )


def _key(row: Any) -> ApiKey:
    return ApiKey(
        secret_id=row.secret_id,
        app_id=row.app_id,
        enabled=bool(row.enabled),
        created_ms=row.created_ms,
    )


def ensure_admin(conn: Connection, credential: Credential, name: str, now_ms: int) -> None:
    """The settings' key is the administrator's: its account and key exist, enabled, and no
    other account is the administrator."""
    conn.execute(update(accounts).where(accounts.c.app_id != credential.app_id).values(admin=False))
    if find_account(conn, credential.app_id) is None:
        taken = conn.execute(select(accounts.c.app_id).where(accounts.c.name == name)).first()
        conn.execute(
            insert(accounts).values(
                app_id=credential.app_id,
                name=name if taken is None else f"{name}-{credential.app_id}",
                admin=True,
                created_ms=now_ms,
            )
        )
    else:
        conn.execute(
            update(accounts).where(accounts.c.app_id == credential.app_id).values(admin=True)
        )
    conn.execute(delete(api_keys).where(api_keys.c.secret_id == credential.secret_id))
    insert_key(conn, credential, now_ms)


def insert_account(conn: Connection, app_id: str, name: str, now_ms: int) -> Account:
    conn.execute(insert(accounts).values(app_id=app_id, name=name, admin=False, created_ms=now_ms))
    return Account(app_id=app_id, name=name, admin=False, created_ms=now_ms)


def find_account(conn: Connection, app_id: str) -> Account | None:
    row = conn.execute(select(accounts).where(accounts.c.app_id == app_id)).first()
    return _account(row) if row is not None else None


def name_taken(conn: Connection, name: str) -> bool:
    lowered = func.lower(accounts.c.name) == name.lower()
    return conn.execute(select(accounts.c.app_id).where(lowered)).first() is not None


def list_accounts(conn: Connection) -> list[tuple[Account, int]]:
    """Every account, oldest first, with how many keys it has."""
    counts = (
        select(api_keys.c.app_id, func.count().label("keys")).group_by(api_keys.c.app_id).subquery()
    )
    rows = conn.execute(
        select(accounts, func.coalesce(counts.c["keys"], 0).label("keys"))
        .outerjoin(counts, counts.c.app_id == accounts.c.app_id)
        .order_by(accounts.c.created_ms, accounts.c.app_id)
    ).all()
    return [(_account(row), int(row.keys)) for row in rows]


def insert_key(conn: Connection, credential: Credential, now_ms: int) -> ApiKey:
    conn.execute(
        insert(api_keys).values(
            secret_id=credential.secret_id,
            app_id=credential.app_id,
            secret_key=credential.secret_key,
            enabled=True,
            created_ms=now_ms,
        )
    )
    return ApiKey(
        secret_id=credential.secret_id, app_id=credential.app_id, enabled=True, created_ms=now_ms
    )


def find_key(conn: Connection, secret_id: str) -> ApiKey | None:
    row = conn.execute(select(api_keys).where(api_keys.c.secret_id == secret_id)).first()
    return _key(row) if row is not None else None


def list_keys(conn: Connection, app_id: str | None) -> list[ApiKey]:
    query = select(api_keys).order_by(api_keys.c.created_ms, api_keys.c.secret_id)
    if app_id is not None:
        query = query.where(api_keys.c.app_id == app_id)
    return [_key(row) for row in conn.execute(query).all()]


def set_enabled(conn: Connection, secret_id: str, enabled: bool) -> None:
    conn.execute(update(api_keys).where(api_keys.c.secret_id == secret_id).values(enabled=enabled))


def delete_key(conn: Connection, secret_id: str) -> None:
    conn.execute(delete(api_keys).where(api_keys.c.secret_id == secret_id))


def enabled_credentials(conn: Connection) -> list[Credential]:
    rows = conn.execute(
        select(api_keys.c.app_id, api_keys.c.secret_id, api_keys.c.secret_key).where(
            api_keys.c.enabled.is_(True)
        )
    ).all()
    return [
        Credential(app_id=row.app_id, secret_id=row.secret_id, secret_key=row.secret_key)
        for row in rows
    ]
