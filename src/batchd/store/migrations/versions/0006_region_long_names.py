"""region long names: resources stored under a CMQ short region name (`gz`) move to its long
name (`ap-guangzhou`), the one name a region has since (tdmq-api.md §3)

A resource whose name is already taken under the long name stays where it is (it could not be
merged) and is reported in the log; nothing is deleted. The mapping is the one of this revision.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from batchd.domain.scope import CMQ_SHORT_NAMES

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

# Each table with a region, and the columns that must stay unique together with it.
_TABLES: dict[str, tuple[str, ...]] = {
    "queues": ("account", "name_key"),
    "topics": ("account", "name"),
    "client_tokens": ("account", "kind", "token"),
    "envs": (),
    "jobs": (),
    "events": (),
    "task_templates": (),
}


def upgrade() -> None:
    conn = op.get_bind()
    for table, unique in _TABLES.items():
        clash = " AND ".join(f"other.{column} = {table}.{column}" for column in unique)
        guard = (
            f" AND NOT EXISTS (SELECT 1 FROM {table} AS other"
            f" WHERE other.region = :long AND {clash})"
            if unique
            else ""
        )
        for short, long in CMQ_SHORT_NAMES.items():
            parameters = {"short": short, "long": long}
            conn.execute(
                sa.text(f"UPDATE {table} SET region = :long WHERE region = :short{guard}"),
                parameters,
            )
            left = conn.execute(
                sa.text(f"SELECT count(*) FROM {table} WHERE region = :short"), parameters
            ).scalar_one()
            if left:
                log.warning(
                    "%d row(s) of %s stay in region %r: their names are taken in %s",
                    left,
                    table,
                    short,
                    long,
                )


def downgrade() -> None:
    """Nothing to undo: the long names are what the short ones always meant."""
