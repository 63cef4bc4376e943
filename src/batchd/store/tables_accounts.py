"""SQLAlchemy table definitions of accounts, their API keys and the audit trail."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, String, Table, Text

from batchd.store.tables import Id, metadata

accounts = Table(
    "accounts",
    metadata,
    Column("app_id", String(64), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("admin", Boolean, nullable=False, default=False),
    Column("created_ms", BigInteger, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("secret_id", String(128), primary_key=True),
    Column("app_id", String(64), ForeignKey("accounts.app_id", ondelete="CASCADE"), nullable=False),
    Column("secret_key", String(128), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_api_keys_app_id", "app_id"),
)

audit = Table(
    "audit",
    metadata,
    Column("pk", Id, primary_key=True, autoincrement=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("secret_id", String(128), nullable=False),
    Column("account", String(64), nullable=False),
    Column("region", String(64), nullable=False),
    Column("protocol", String(16), nullable=False),
    Column("action", String(64), nullable=False),
    Column("resource", Text, nullable=False),
    Column("result", String(64), nullable=False),
    Column("request_id", String(64), nullable=False),
    Index("ix_audit_account", "account", "pk"),
    Index("ix_audit_at", "at_ms"),
)
