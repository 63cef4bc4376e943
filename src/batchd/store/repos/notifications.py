"""The stored `Notifications` of the job or environment that owns an event."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select

from batchd.store.tables_batch import envs, jobs


def of_owner(conn: Connection, owner_id: str) -> list[dict[str, Any]]:
    """A job's or a named environment's notifications; [] when the owner is gone."""
    table, column = (jobs, jobs.c.job_id) if owner_id.startswith("job-") else (envs, envs.c.env_id)
    stored = conn.execute(select(table.c.notifications).where(column == owner_id)).scalar()
    return json.loads(stored) if stored else []
