"""A PostgreSQL database of their own for the replica tests: the replicas elect their leader in
it, migrate it at their start, and nothing else writes there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_ADMIN_URL, SESSION_DB


@pytest.fixture
def replica_database_url(pg_database: str) -> Iterator[str]:
    """A new, empty (unmigrated) database; skips without PostgreSQL, fails instead under CI=true
    (through `pg_database`). Dropped afterwards, whatever connections are left to it."""
    name = f"{SESSION_DB}_replicas"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
