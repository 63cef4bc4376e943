"""instances by env: an environment's instances by launch time, for its nodes' busy time

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_instances_env_launch", "instances", ["env_id", "launch_ms"])


def downgrade() -> None:
    op.drop_index("ix_instances_env_launch", "instances")
