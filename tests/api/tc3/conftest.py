"""Fixtures: one test app serving Tc3Endpoint per session, its recorder cleared for each test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.tc3.harness import Tc3Server, serve


@pytest.fixture(scope="session")
def tc3_session() -> Iterator[Tc3Server]:
    with serve() as server:
        yield server


@pytest.fixture
def tc3(tc3_session: Tc3Server) -> Tc3Server:
    """The test app; `tc3.recorder.received` holds only this test's requests."""
    tc3_session.recorder.received.clear()
    return tc3_session


@pytest.fixture(scope="session")
def http_session(tc3_session: Tc3Server) -> Iterator[httpx.Client]:
    # one client: building its SSL context takes a quarter of a second
    with httpx.Client(base_url=tc3_session.base_url, timeout=30) as client:
        yield client


@pytest.fixture
def http(tc3: Tc3Server, http_session: httpx.Client) -> httpx.Client:
    """A raw HTTP client for the test app."""
    return http_session
