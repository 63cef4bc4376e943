"""request memory: the nonces seen and each key's usage, shared by the replicas of a database

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Neither table needs to outlive a crash of PostgreSQL, and their writes are on the request
    # path: UNLOGGED spares them the write-ahead log (SQLite has no such tables, nor needs them).
    prefixes = ["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else []
    op.create_table(
        "seen_nonces",
        sa.Column("secret_id", sa.String(128), nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("timestamp", sa.String(128), nullable=False),
        sa.Column("seen_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("secret_id", "nonce", "timestamp", name="pk_seen_nonces"),
        prefixes=prefixes,
    )
    op.create_index("ix_seen_nonces_seen_ms", "seen_nonces", ["seen_ms"])
    op.create_table(
        "rate_usage",
        sa.Column("secret_id", sa.String(128), nullable=False),
        sa.Column("window_s", sa.BigInteger, nullable=False),
        sa.Column("replica", sa.String(64), nullable=False),
        sa.Column("used", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("secret_id", "window_s", "replica", name="pk_rate_usage"),
        prefixes=prefixes,
    )
    op.create_index("ix_rate_usage_window_s", "rate_usage", ["window_s"])


def downgrade() -> None:
    op.drop_index("ix_rate_usage_window_s", "rate_usage")
    op.drop_table("rate_usage")
    op.drop_index("ix_seen_nonces_seen_ms", "seen_nonces")
    op.drop_table("seen_nonces")
