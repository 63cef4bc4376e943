"""The official Python SDK against Tc3Endpoint, in every request form it can send."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from tencentcloud.batch.v20170312 import models
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from batchd.api.tc3 import models_env as env
from batchd.api.tc3 import models_job as job
from batchd.domain.account import Credential
from batchd.domain.scope import Scope
from tests.api.tc3.harness import (
    CREATED_ENV_ID,
    REGION,
    SUBMITTED_JOB_ID,
    Tc3Server,
    sdk_client,
)
from tests.api.tc3.payloads import RICH_CREATE_COMPUTE_ENV, RICH_SUBMIT_JOB
from tests.support import CREDENTIAL

# (HTTP method, SDK signMethod, unsigned payload, endpoint with scheme like tccli)
FORMS: dict[str, dict[str, Any]] = {
    "tc3-post": {},
    "tc3-get": {"method": "GET"},
    "tc3-post-unsigned-payload": {"unsigned_payload": True},
    "tc3-get-unsigned-payload": {"method": "GET", "unsigned_payload": True},
    "v1-post-sha256": {"sign_method": "HmacSHA256"},
    "v1-post-sha1": {"sign_method": "HmacSHA1"},
    "v1-get-sha256": {"method": "GET", "sign_method": "HmacSHA256"},
}


def request(model: Any, data: dict[str, Any]) -> Any:
    sdk_request = model()
    sdk_request.from_json_string(json.dumps(data))
    return sdk_request


def describe_job(client: Any, job_id: str = "job-abcdefgh") -> Any:
    return client.DescribeJob(request(models.DescribeJobRequest, {"JobId": job_id}))


@pytest.mark.parametrize("form", FORMS)
def test_describe_job_in_every_form(tc3: Tc3Server, form: str) -> None:
    answer = describe_job(sdk_client(tc3, **FORMS[form]))

    assert answer.JobId == "job-abcdefgh"
    assert answer.JobName == "echo"
    assert uuid.UUID(answer.RequestId).version == 4
    scope, received = tc3.recorder.last("DescribeJob")
    assert scope == Scope(CREDENTIAL.app_id, REGION)
    assert received == job.DescribeJobRequest(JobId="job-abcdefgh")


@pytest.mark.parametrize("form", FORMS)
def test_submit_job_with_every_field_in_every_form(tc3: Tc3Server, form: str) -> None:
    client = sdk_client(tc3, **FORMS[form])

    answer = client.SubmitJob(request(models.SubmitJobRequest, RICH_SUBMIT_JOB))

    assert answer.JobId == SUBMITTED_JOB_ID
    _, received = tc3.recorder.last("SubmitJob")
    assert (
        received.model_dump() == job.SubmitJobRequest.model_validate(RICH_SUBMIT_JOB).model_dump()
    )
    assert received.model_dump(exclude_unset=True) == RICH_SUBMIT_JOB


@pytest.mark.parametrize("form", FORMS)
def test_create_compute_env_with_every_field_in_every_form(tc3: Tc3Server, form: str) -> None:
    client = sdk_client(tc3, **FORMS[form])

    answer = client.CreateComputeEnv(
        request(models.CreateComputeEnvRequest, RICH_CREATE_COMPUTE_ENV)
    )

    assert answer.EnvId == CREATED_ENV_ID
    _, received = tc3.recorder.last("CreateComputeEnv")
    expected = env.CreateComputeEnvRequest.model_validate(RICH_CREATE_COMPUTE_ENV)
    assert received.model_dump() == expected.model_dump()


def test_tccli_host_with_scheme_is_verified_as_sent(tc3: Tc3Server) -> None:
    # tccli puts the scheme into the endpoint; the SDK then sends and signs
    # `Host: http://127.0.0.1:PORT` (batch-api.md §1.5).
    client = sdk_client(tc3, endpoint=tc3.base_url)

    assert describe_job(client).JobId == "job-abcdefgh"


def test_request_without_region_gets_the_default_region(tc3: Tc3Server) -> None:
    describe_job(sdk_client(tc3, region=""))

    scope, _ = tc3.recorder.last("DescribeJob")
    assert scope == Scope(CREDENTIAL.app_id, "ap-default")


def test_list_answer_reaches_the_sdk(tc3: Tc3Server) -> None:
    answer = sdk_client(tc3).DescribeJobs(
        request(models.DescribeJobsRequest, {"Filters": [{"Name": "zone", "Values": ["z"]}]})
    )

    assert answer.TotalCount == 0
    assert answer.JobSet == []


def sdk_error(call: Any) -> TencentCloudSDKException:
    with pytest.raises(TencentCloudSDKException) as caught:
        call()
    error = caught.value
    assert uuid.UUID(error.requestId).version == 4
    return error


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("region", ["ap-" + "x" * 70, "ap guangzhou", "ap/guangzhou"])
def test_a_region_that_cannot_be_one_is_refused(tc3: Tc3Server, form: str, region: str) -> None:
    calls = len(tc3.recorder.received)

    error = sdk_error(lambda: describe_job(sdk_client(tc3, region=region, **FORMS[form])))

    assert error.code == "UnsupportedRegion"
    assert "at most 64 characters" in error.message
    assert len(tc3.recorder.received) == calls  # nothing reached the service


@pytest.mark.parametrize("form", FORMS)
def test_domain_error_with_product_code_reaches_the_sdk(tc3: Tc3Server, form: str) -> None:
    client = sdk_client(tc3, **FORMS[form])

    error = sdk_error(
        lambda: client.TerminateJob(request(models.TerminateJobRequest, {"JobId": "job-zzzzzzzz"}))
    )

    assert error.code == "ResourceNotFound.Job"
    assert "job-zzzzzzzz does not exist" in error.message


def test_domain_error_without_product_code_answers_the_class_code(tc3: Tc3Server) -> None:
    client = sdk_client(tc3)

    error = sdk_error(
        lambda: client.RetryJobs(request(models.RetryJobsRequest, {"JobIds": ["job-abcdefgh"]}))
    )

    assert error.code == "ResourceInUse"


def test_handler_crash_answers_internal_error(tc3: Tc3Server) -> None:
    client = sdk_client(tc3)

    error = sdk_error(
        lambda: client.DeleteJob(request(models.DeleteJobRequest, {"JobId": "job-abcdefgh"}))
    )

    assert error.code == "InternalError"
    assert "a bug in a handler" not in error.message


@pytest.mark.parametrize(
    ("method", "data"),
    [
        ("DescribeTask", {"JobId": "job-abcdefgh", "TaskName": "t"}),
        ("DescribeInstanceCategories", {}),
    ],
)
def test_action_not_offered_answers_unsupported_operation(
    tc3: Tc3Server, method: str, data: dict[str, Any]
) -> None:
    client = sdk_client(tc3)
    sdk_request = request(getattr(models, f"{method}Request"), data)

    error = sdk_error(lambda: getattr(client, method)(sdk_request))

    assert error.code == "UnsupportedOperation"
    assert "not offered by batchd" in error.message


@pytest.mark.parametrize("form", FORMS)
def test_wrong_secret_key_answers_signature_failure(tc3: Tc3Server, form: str) -> None:
    wrong = Credential(app_id="x", secret_id=CREDENTIAL.secret_id, secret_key="not-the-key")
    client = sdk_client(tc3, key=wrong, **FORMS[form])

    assert sdk_error(lambda: describe_job(client)).code == "AuthFailure.SignatureFailure"
    assert tc3.recorder.received == []


@pytest.mark.parametrize("form", FORMS)
def test_unknown_secret_id_answers_secret_id_not_found(tc3: Tc3Server, form: str) -> None:
    stranger = Credential(app_id="x", secret_id="AKIDnobody", secret_key="k")
    client = sdk_client(tc3, key=stranger, **FORMS[form])

    assert sdk_error(lambda: describe_job(client)).code == "AuthFailure.SecretIdNotFound"


@pytest.mark.parametrize("form", FORMS)
def test_rule_violation_answers_its_specific_code(tc3: Tc3Server, form: str) -> None:
    client = sdk_client(tc3, **FORMS[form])
    data = json.loads(json.dumps(RICH_SUBMIT_JOB))
    data["Job"]["JobName"] = "x" * 61

    error = sdk_error(lambda: client.SubmitJob(request(models.SubmitJobRequest, data)))

    assert error.code == "InvalidParameter.JobNameTooLong"
    assert "Job.JobName" in error.message
    assert tc3.recorder.received == []


@pytest.mark.parametrize("form", FORMS)
def test_malformed_id_answers_id_malformed(tc3: Tc3Server, form: str) -> None:
    client = sdk_client(tc3, **FORMS[form])

    error = sdk_error(lambda: describe_job(client, "job-NOT-AN-ID"))

    assert error.code == "InvalidParameter.JobIdMalformed"


def test_requests_are_counted_by_action_and_code(tc3: Tc3Server) -> None:
    before = dict(tc3.metrics.requests)
    client = sdk_client(tc3)

    describe_job(client)
    sdk_error(lambda: describe_job(client, "job-NOT-AN-ID"))

    after = tc3.metrics.requests
    assert after[("tc3", "DescribeJob", "0")] == before.get(("tc3", "DescribeJob", "0"), 0) + 1
    malformed = ("tc3", "DescribeJob", "InvalidParameter.JobIdMalformed")
    assert after[malformed] == before.get(malformed, 0) + 1
