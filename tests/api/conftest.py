"""API tests share one server per module and database kind, emptied before every test.

Starting a server costs far more than most API tests; the message service keeps all its state in
the database, so emptying the tables gives each test the same fresh start.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import RunningServer, empty_tables, server_in_thread


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("server")
    if request.param == "sqlite":
        url = f"sqlite:///{directory / 'batchd.db'}"
    else:
        url = str(request.getfixturevalue("pg_database"))
    with server_in_thread(directory / "data", url) as running:
        yield running


@pytest.fixture
def server(shared_server: RunningServer) -> RunningServer:
    """The module's server with every table emptied."""
    empty_tables(shared_server.database_url)
    return shared_server
