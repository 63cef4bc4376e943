"""Shared fixtures: every store-touching test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from batchd.store import migrate
from tests.support import CmqAccounts, RunningServer, empty_tables, server_in_thread

PG_ADMIN_URL = os.environ.get(
    "BATCHD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SESSION_DB = f"batchd_test_{os.getpid()}"  # one per pytest process (and xdist worker)
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
def _clear_batchd_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("BATCHD_") and name != "BATCHD_TEST_PG_URL":
            monkeypatch.delenv(name)


def _pg_reachable() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"
    return None


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database migrated once per session; tests empty it rather than recreate it
    (creating and dropping a database costs ~1 s, emptying its tables a few ms)."""
    problem = _pg_reachable()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required under CI=true: {problem}")
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({problem})")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{SESSION_DB}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{SESSION_DB}"'))
    url = make_url(PG_ADMIN_URL).set(database=SESSION_DB).render_as_string(hide_password=False)
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{SESSION_DB}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def unmigrated_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each kind with no schema at all: for tests of the migrations themselves."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'batchd.db'}"
        return
    request.getfixturevalue("pg_database")  # skips, or fails under CI, without a server
    with fresh_pg_database(f"{SESSION_DB}_unmigrated") as url:
        yield url


@contextlib.contextmanager
def fresh_pg_database(name: str) -> Iterator[str]:
    """The URL of a new, empty (unmigrated) PostgreSQL database `name`, dropped afterwards
    whatever connections are left to it."""
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


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The session's PostgreSQL database, emptied for this test."""
    empty_tables(pg_database)
    return pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'batchd.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[RunningServer]:
    """The real batchd application on a loopback port, on each database."""
    with server_in_thread(tmp_path / "data", database_url) as running:
        yield running


@pytest.fixture
def cmq_accounts() -> Iterator[CmqAccounts]:
    """Factory of official CMQ SDK accounts; their connections close after the test."""
    accounts = CmqAccounts()
    yield accounts
    accounts.close()


@pytest.fixture(params=["sha1", "sha256"])
def account(
    request: pytest.FixtureRequest, server: RunningServer, cmq_accounts: CmqAccounts
) -> object:
    """The CMQ SDK pointed at the server, with each signature method."""
    return cmq_accounts(server.base_url, sign=request.param)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every user may write in (1777, in /tmp): commands run under user ids of
    their own (compute/isolation.py), so files a test's commands share go here."""
    import shutil
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="batchd-shared-"))
    directory.chmod(0o1777)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)
