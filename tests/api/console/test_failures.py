"""A page whose service fails unexpectedly answers a readable error page with a reference to the
log, never a stack trace (the console app built inline, its Batch API handler failing)."""

from __future__ import annotations

from typing import Any, cast

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from batchd.api.auth import Keyring
from batchd.api.console import app as console_app
from batchd.api.tc3 import models_job
from batchd.control.service import BatchService
from batchd.domain.scope import Scope
from batchd.mq.service import MessageService
from tests.api.console.conftest import csrf_of
from tests.support import CREDENTIAL


async def broken(scope: Scope, request: Any) -> dict[str, Any]:
    raise RuntimeError("the database caught fire at /secret/path")


async def test_an_unexpected_failure_is_a_page_with_a_reference(
    caplog: pytest.LogCaptureFixture,
) -> None:
    console = console_app.build(
        batch=cast(BatchService, None),
        messages=cast(MessageService, None),
        batch_handlers={"DescribeJobs": (models_job.DescribeJobsRequest, broken)},
        keyring=Keyring([CREDENTIAL]),
        region="ap-guangzhou",
        api_secret=CREDENTIAL.secret_key,
    )
    app = Starlette(routes=[Mount("/console", app=console)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        form = await client.get("/console/sign-in")
        await client.post(
            "/console/sign-in",
            data={
                "csrf": csrf_of(form.text),
                "secret_id": CREDENTIAL.secret_id,
                "secret_key": CREDENTIAL.secret_key,
                "region": "ap-guangzhou",
            },
        )

        page = await client.get("/console/jobs")
        fragment = await client.get("/console/jobs/rows")

    assert page.status_code == 500
    assert "Something went wrong" in page.text
    assert "InternalError" in page.text
    assert "secret/path" not in page.text
    assert "Traceback" not in page.text
    assert (fragment.status_code, fragment.text) == (500, "error")
    assert "the database caught fire" in caplog.text  # the details go to the log
