"""A PostgreSQL database of their own for the replica tests: the replicas elect their leader in
it, migrate it at their start, and nothing else writes there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import SESSION_DB, fresh_pg_database


@pytest.fixture
def replica_database_url(pg_database: str) -> Iterator[str]:
    """A new, empty (unmigrated) database; skips without PostgreSQL, fails instead under CI=true
    (through `pg_database`). Dropped afterwards, whatever connections are left to it."""
    with fresh_pg_database(f"{SESSION_DB}_replicas") as url:
        yield url
