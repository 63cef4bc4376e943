"""A console server per module, and an HTTP client that signs in like a browser would."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from batchd.domain.account import Credential
from tests.support import CREDENTIAL, RunningServer, server_in_thread

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def sign_in(
    client: httpx.Client, region: str = "ap-guangzhou", credential: Credential = CREDENTIAL
) -> httpx.Response:
    form = client.get("/console/sign-in")
    return client.post(
        "/console/sign-in",
        data={
            "csrf": csrf_of(form.text),
            "secret_id": credential.secret_id,
            "secret_key": credential.secret_key,
            "region": region,
        },
    )


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("console")
    with server_in_thread(directory / "data", f"sqlite:///{directory / 'batchd.db'}") as server:
        yield server


@pytest.fixture
def client(console_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console_server.base_url, timeout=30) as anonymous:
        yield anonymous


@pytest.fixture
def signed_in(client: httpx.Client) -> httpx.Client:
    assert sign_in(client).status_code == 303
    return client
