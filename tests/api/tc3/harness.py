"""A tiny app serving Tc3Endpoint at "/" with recording test handlers, and ways to call it.

`Tc3Server` runs the app with uvicorn in a thread on a free loopback port. `sdk_client` points
the official SDK at it; `tc3_headers` / `v1_params` sign raw requests independently of batchd's
`signing` module (the key derivation and v1 HMAC are the SDK's own `Sign`), so tests can also
sign deliberately wrong things.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.routing import Route
from tencentcloud.batch.v20170312 import batch_client
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.common.sign import Sign

from batchd.api.auth import Keyring
from batchd.api.metrics import RequestMetrics
from batchd.api.tc3 import models_env as env
from batchd.api.tc3 import models_job as job
from batchd.api.tc3.actions import batch_api
from batchd.api.tc3.dispatch import METHODS, Handler, Tc3Endpoint, bind
from batchd.domain import errors
from batchd.domain.account import Credential
from batchd.domain.scope import Scope
from tests.support import CREDENTIAL, free_port, wait_until

REGION = "ap-guangzhou"
DEFAULT_REGION = "ap-default"
SUBMITTED_JOB_ID = "job-fixed001"
CREATED_ENV_ID = "env-fixed001"


@dataclass
class Recorder:
    """Test handlers for real action names; `received` lists (action, scope, request)."""

    received: list[tuple[str, Scope, BaseModel]] = field(default_factory=list)

    def last(self, action: str) -> tuple[Scope, BaseModel]:
        for name, scope, request in reversed(self.received):
            if name == action:
                return scope, request
        raise AssertionError(f"{action} was not handled")

    async def describe_job(self, scope: Scope, request: job.DescribeJobRequest) -> dict[str, Any]:
        self.received.append(("DescribeJob", scope, request))
        return {"JobId": request.JobId, "JobName": "echo", "TaskSet": [], "DependenceSet": []}

    async def submit_job(self, scope: Scope, request: job.SubmitJobRequest) -> dict[str, Any]:
        self.received.append(("SubmitJob", scope, request))
        return {"JobId": SUBMITTED_JOB_ID}

    async def create_compute_env(
        self, scope: Scope, request: env.CreateComputeEnvRequest
    ) -> dict[str, Any]:
        self.received.append(("CreateComputeEnv", scope, request))
        return {"EnvId": CREATED_ENV_ID}

    async def describe_jobs(self, scope: Scope, request: job.DescribeJobsRequest) -> dict[str, Any]:
        self.received.append(("DescribeJobs", scope, request))
        return {"JobSet": [], "TotalCount": 0}

    async def terminate_job(self, scope: Scope, request: job.TerminateJobRequest) -> dict[str, Any]:
        raise errors.NotFound(
            f"job {request.JobId} does not exist: list jobs with DescribeJobs",
            resource=request.JobId,
            code="ResourceNotFound.Job",
        )

    async def retry_jobs(self, scope: Scope, request: job.RetryJobsRequest) -> dict[str, Any]:
        raise errors.ResourceInUse("the job is busy")

    async def delete_job(self, scope: Scope, request: job.DeleteJobRequest) -> dict[str, Any]:
        raise RuntimeError("a bug in a handler")

    def actions(self) -> dict[str, tuple[type[BaseModel], Handler]]:
        return {
            "DescribeJob": bind(job.DescribeJobRequest, self.describe_job),
            "SubmitJob": bind(job.SubmitJobRequest, self.submit_job),
            "CreateComputeEnv": bind(env.CreateComputeEnvRequest, self.create_compute_env),
            "DescribeJobs": bind(job.DescribeJobsRequest, self.describe_jobs),
            "TerminateJob": bind(job.TerminateJobRequest, self.terminate_job),
            "RetryJobs": bind(job.RetryJobsRequest, self.retry_jobs),
            "DeleteJob": bind(job.DeleteJobRequest, self.delete_job),
        }


@dataclass
class Tc3Server:
    """The test app on a loopback port."""

    port: int
    recorder: Recorder
    metrics: RequestMetrics

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"


@contextlib.contextmanager
def serve() -> Iterator[Tc3Server]:
    recorder = Recorder()
    metrics = RequestMetrics()
    endpoint = Tc3Endpoint(
        Keyring([CREDENTIAL]), [batch_api(recorder.actions())], metrics, DEFAULT_REGION
    )
    app = Starlette(routes=[Route("/", endpoint.handle, methods=METHODS)])
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="tc3-test-server", daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=20)
    try:
        yield Tc3Server(port, recorder, metrics)
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def sdk_client(
    server: Tc3Server,
    *,
    method: str = "POST",
    sign_method: str | None = None,
    endpoint: str | None = None,
    unsigned_payload: bool = False,
    key: Credential = CREDENTIAL,
    region: str = REGION,
) -> Any:
    """The official BatchClient pointed at the test server."""
    http = HttpProfile(protocol="http", endpoint=endpoint or server.host, reqMethod=method)
    profile = ClientProfile(httpProfile=http, signMethod=sign_method)
    profile.unsignedPayload = unsigned_payload
    cred = credential.Credential(key.secret_id, key.secret_key)
    return batch_client.BatchClient(cred, region, profile)


def tc3_headers(
    action: str,
    body: bytes,
    *,
    host: str,
    method: str = "POST",
    query: str = "",
    content_type: str = "application/json",
    key: Credential = CREDENTIAL,
    timestamp: int | None = None,
    version: str = "2017-03-12",
    service: str = "batch",
    date: str | None = None,
    signed_headers: Sequence[str] = ("content-type", "host"),
    lower_values: bool = False,
    unsigned_payload: bool = False,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Headers of a TC3-signed request, computed as batch-api.md §1.2 describes."""
    stamp = int(time.time()) if timestamp is None else timestamp
    day = date or datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d")
    headers = {
        "Content-Type": content_type,
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Version": version,
        "X-TC-Timestamp": str(stamp),
        "X-TC-Region": REGION,
        **(extra or {}),
    }
    if unsigned_payload:
        headers["X-TC-Content-SHA256"] = "UNSIGNED-PAYLOAD"
    by_name = {name.lower(): value for name, value in headers.items()}
    canonical_headers = "".join(
        f"{name}:{by_name[name].lower() if lower_values else by_name[name]}\n"
        for name in signed_headers
    )
    payload = b"UNSIGNED-PAYLOAD" if unsigned_payload else (b"" if method == "GET" else body)
    canonical_request = "\n".join(
        [
            method,
            "/",
            query if method == "GET" else "",
            canonical_headers,
            ";".join(signed_headers),
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    scope = f"{day}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(stamp),
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    signature = Sign.sign_tc3(key.secret_key, day, service, string_to_sign)
    headers["Authorization"] = (
        f"TC3-HMAC-SHA256 Credential={key.secret_id}/{scope}, "
        f"SignedHeaders={';'.join(signed_headers)}, Signature={signature}"
    )
    return headers


def json_body(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data).encode()


def v1_params(
    action: str,
    params: Mapping[str, str],
    *,
    host: str,
    method: str = "POST",
    key: Credential = CREDENTIAL,
    sign_method: str = "HmacSHA256",
    timestamp: int | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A signature-v1 parameter set (flattened request params plus the common ones), signed."""
    signed: dict[str, str] = {
        **params,
        "Action": action,
        "Version": "2017-03-12",
        "Region": REGION,
        "Timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "Nonce": "12345",
        "SecretId": key.secret_id,
        "SignatureMethod": sign_method,
        **(extra or {}),
    }
    joined = "&".join(
        f"{name}={signed[original]}"
        for name, original in sorted((name.replace("_", "."), name) for name in signed)
    )
    signed["Signature"] = Sign.sign(key.secret_key, f"{method}{host}/?{joined}", sign_method)
    return signed
