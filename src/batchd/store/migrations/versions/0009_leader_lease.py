"""leader lease: which replica of a PostgreSQL-backed service leads, until when, in which epoch

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    lease = op.create_table(
        "leader_lease",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("session", sa.Integer, nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
    )
    # One row, always there: taking the lease is an UPDATE of it, never a race of INSERTs.
    op.bulk_insert(
        lease, [{"id": 1, "epoch": 0, "holder": "", "url": "", "session": 0, "expires_ms": 0}]
    )


def downgrade() -> None:
    op.drop_table("leader_lease")
