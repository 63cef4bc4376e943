"""The fuzz suite (see `fuzzing`): a fixed budget per surface in `make test` (FUZZ_EXAMPLES
raises it: bench/fuzz.py runs 10,000 and more). Hypothesis prints the failing example and how to
reproduce it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from tests.api.console.conftest import csrf_of
from tests.api.fuzzing import (
    CONSOLE_PATHS,
    Fingerprint,
    Outcomes,
    Target,
    check_cmq,
    check_tc3,
    cmq_request,
    tc3_request,
    texts,
)
from tests.support import CREDENTIAL, healthy, server_in_thread

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "120"))
REPORT = os.environ.get("FUZZ_REPORT")
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

pytestmark = pytest.mark.timeout(max(300, EXAMPLES // 5))


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    directory = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{directory / 'batchd.db'}"
    outcomes = Outcomes()
    with server_in_thread(directory / "data", url) as server:
        engine = create_engine(url, poolclass=NullPool)
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            yield Target(server, http, Fingerprint(engine), outcomes)
        engine.dispose()
    if REPORT:
        Path(REPORT).write_text(json.dumps(outcomes.report(), indent=2))


@FUZZ
@given(data=st.data())
def test_api_3_requests(target: Target, data: st.DataObject) -> None:
    headers, body, _mutation = data.draw(st.composite(tc3_request)(target.server.host))
    before = target.fingerprint.take()

    code = check_tc3(target, target.http.post("/", content=body, headers=headers))

    target.outcomes.add("api3", code)
    if code != "0":
        assert target.fingerprint.take() == before, f"refused with {code} but stored something"
    assert healthy(target.server.base_url)


@FUZZ
@given(data=st.data())
def test_cmq_requests(target: Target, data: st.DataObject) -> None:
    method, encoded, _signed = data.draw(st.composite(cmq_request)(target.server.host))
    before = target.fingerprint.take()
    if method == "GET":
        response = target.http.get(f"/v2/index.php?{encoded}")
    else:
        response = target.http.post("/v2/index.php", content=encoded.encode())

    code = check_cmq(target, response)

    target.outcomes.add("cmq", code)
    if code != "0":
        assert target.fingerprint.take() == before, f"refused with {code} but stored something"
    assert healthy(target.server.base_url)


@FUZZ
@given(
    signed_in=st.booleans(),
    path=st.sampled_from(CONSOLE_PATHS) | texts.map(lambda text: f"/console/{text}"),
    form=st.dictionaries(
        st.sampled_from(["name", "body", "csrf", "json", "nodes"]) | texts, texts, max_size=5
    ),
    with_csrf=st.booleans(),
)
def test_console_forms(
    target: Target, signed_in: bool, path: str, form: dict[str, str], with_csrf: bool
) -> None:
    with httpx.Client(base_url=target.server.base_url, timeout=60) as browser:
        if signed_in:
            page = browser.get("/console/sign-in")
            browser.post(
                "/console/sign-in",
                data={
                    "csrf": csrf_of(page.text),
                    "secret_id": CREDENTIAL.secret_id,
                    "secret_key": CREDENTIAL.secret_key,
                    "region": "ap-guangzhou",
                },
            )
            if with_csrf:
                form = {**form, "csrf": csrf_of(browser.get("/console/queues").text)}
        try:
            response = browser.post(path, data=form)
        except httpx.InvalidURL:
            return  # not a request a browser could send

    target.outcomes.add("console", str(response.status_code))
    assert response.status_code < 500, response.text[:500]
    assert healthy(target.server.base_url)


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    path=st.sampled_from(["/", "/v2/index.php", "/healthz", "/metrics", "/console"])
    | texts.map(lambda text: "/" + text),
    body=st.binary(max_size=300),
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "", "text/plain"]
    ),
)
def test_raw_http(target: Target, method: str, path: str, body: bytes, content_type: str) -> None:
    try:
        response = target.http.request(
            method, path, content=body, headers={"Content-Type": content_type}
        )
    except httpx.InvalidURL:
        return

    target.outcomes.add("http", str(response.status_code))
    assert response.status_code < 500, response.text[:500]
    assert healthy(target.server.base_url)
