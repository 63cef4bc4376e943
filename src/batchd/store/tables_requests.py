"""SQLAlchemy table definitions of what replicas share about requests: nonces seen, keys' usage."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table

from batchd.store.tables import metadata

# A CMQ request's (SecretId, Nonce, Timestamp), kept while a replay of it could still be in time
# (see store/request_memory.py). UNLOGGED on PostgreSQL (migration 0010): a crash forgets them.
seen_nonces = Table(
    "seen_nonces",
    metadata,
    Column("secret_id", String(128), primary_key=True),
    Column("nonce", String(128), primary_key=True),
    Column("timestamp", String(128), primary_key=True),
    Column("seen_ms", BigInteger, nullable=False),
    Index("ix_seen_nonces_seen_ms", "seen_ms"),
)

# Requests a replica admitted for a key in one second of the database's clock (UNLOGGED too).
rate_usage = Table(
    "rate_usage",
    metadata,
    Column("secret_id", String(128), primary_key=True),
    Column("window_s", BigInteger, primary_key=True),
    Column("replica", String(64), primary_key=True),
    Column("used", BigInteger, nullable=False),
    Index("ix_rate_usage_window_s", "window_s"),
)
