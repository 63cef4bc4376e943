"""event delivery: why an event could not be published to its topics

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("undeliverable", sa.Text(), nullable=True))
        batch_op.create_index("ix_events_undeliverable", ["undeliverable"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_undeliverable")
        batch_op.drop_column("undeliverable")
