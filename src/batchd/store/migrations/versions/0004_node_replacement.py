"""node replacement: how many node creations of an env failed, and what an anonymous env's
waiting instances do then

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("envs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("creation_failures", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("if_creation_failed", sa.String(16), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("envs", schema=None) as batch_op:
        batch_op.drop_column("if_creation_failed")
        batch_op.drop_column("creation_failures")
