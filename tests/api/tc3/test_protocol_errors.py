"""Raw HTTP requests for every common error code of batch-api.md §1.4 that applies, and the check
order of §1.1: each answers HTTP 200, `application/json`, the envelope, and calls no handler."""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from typing import Any

import httpx
import pytest

from batchd.api.tc3.actions import batch_api
from batchd.api.tc3.dispatch import bind
from batchd.api.tc3.models_job import DescribeJobRequest
from batchd.domain.account import Credential
from batchd.domain.scope import Scope
from tests.api.tc3.harness import Tc3Server, json_body, tc3_headers, v1_params
from tests.support import CREDENTIAL

DESCRIBE = json_body({"JobId": "job-abcdefgh"})


def envelope(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()["Response"]
    assert uuid.UUID(body["RequestId"]).version == 4
    return body


def error_of(response: httpx.Response) -> tuple[str, str]:
    body = envelope(response)
    assert set(body) == {"Error", "RequestId"}, body
    return body["Error"]["Code"], body["Error"]["Message"]


def post(
    http: httpx.Client, tc3: Tc3Server, action: str, body: bytes, **signing: Any
) -> httpx.Response:
    return http.post("/", content=body, headers=tc3_headers(action, body, host=tc3.host, **signing))


def assert_refused(tc3: Tc3Server, response: httpx.Response, code: str) -> str:
    actual, message = error_of(response)
    assert actual == code, message
    assert tc3.recorder.received == []
    return message


# --- success paths that raw clients exercise -----------------------------------------------


def test_success_envelope(http: httpx.Client, tc3: Tc3Server) -> None:
    body = envelope(post(http, tc3, "DescribeJob", DESCRIBE))

    assert body["JobId"] == "job-abcdefgh"
    assert set(body) == {"JobId", "JobName", "TaskSet", "DependenceSet", "RequestId"}


def test_signature_over_lower_cased_header_values_is_accepted(
    http: httpx.Client, tc3: Tc3Server
) -> None:
    response = post(
        http, tc3, "DescribeJob", DESCRIBE, content_type="Application/JSON", lower_values=True
    )

    assert envelope(response)["JobId"] == "job-abcdefgh"


def test_client_chosen_signed_headers_are_honoured(http: httpx.Client, tc3: Tc3Server) -> None:
    signed = ("content-type", "host", "x-tc-action", "x-tc-timestamp")
    response = post(http, tc3, "DescribeJob", DESCRIBE, signed_headers=signed)

    assert envelope(response)["JobId"] == "job-abcdefgh"


def test_host_header_with_scheme_is_signed_as_sent(http: httpx.Client, tc3: Tc3Server) -> None:
    host = f"http://{tc3.host}"  # what tccli sends
    headers = tc3_headers("DescribeJob", DESCRIBE, host=host)

    assert envelope(http.post("/", content=DESCRIBE, headers=headers))["JobId"] == "job-abcdefgh"


def test_host_header_rebuilt_without_scheme_does_not_verify(
    http: httpx.Client, tc3: Tc3Server
) -> None:
    headers = tc3_headers("DescribeJob", DESCRIBE, host=tc3.host)
    headers["Host"] = f"http://{tc3.host}"

    assert_refused(
        tc3, http.post("/", content=DESCRIBE, headers=headers), "AuthFailure.SignatureFailure"
    )


def test_tc3_post_with_form_body(http: httpx.Client, tc3: Tc3Server) -> None:
    body = b"JobId=job-abcdefgh"
    response = post(
        http, tc3, "DescribeJob", body, content_type="application/x-www-form-urlencoded"
    )

    assert envelope(response)["JobId"] == "job-abcdefgh"


def test_legacy_notifications_spelling_is_accepted(http: httpx.Client, tc3: Tc3Server) -> None:
    job = {
        "Tasks": [
            {"Application": {"DeliveryForm": "LOCAL", "Command": "true"}, "EnvId": "env-a1b2c3d4"}
        ],
        "notifications": [
            {
                "topic_name": "job-message",
                "event_configs": [
                    {"event_name": "JobFailed"},
                    {"event_name": "JobSucceed", "event_vars": [{"name": "k", "value": "v"}]},
                ],
            }
        ],
    }
    body = json_body({"Placement": {"Zone": "ap-guangzhou-2"}, "Job": job})

    assert envelope(post(http, tc3, "SubmitJob", body))["JobId"] == "job-fixed001"
    _, received = tc3.recorder.last("SubmitJob")
    dumped = received.model_dump(exclude_unset=True)
    assert dumped["Job"]["Notifications"] == [
        {
            "TopicName": "job-message",
            "EventConfigs": [
                {"EventName": "JobFailed"},
                {"EventName": "JobSucceed", "EventVars": [{"Name": "k", "Value": "v"}]},
            ],
        }
    ]


# --- protocol ------------------------------------------------------------------------------


def test_endpoint_refuses_handlers_for_names_outside_the_api() -> None:
    with pytest.raises(ValueError, match="DescribeJobz"):
        batch_api({"DescribeJobz": bind(DescribeJobRequest, echo)})


async def echo(scope: Scope, request: DescribeJobRequest) -> dict[str, Any]:
    return {"JobId": request.JobId}


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_http_methods_answer_unsupported_protocol(
    http: httpx.Client, tc3: Tc3Server, method: str
) -> None:
    response = http.request(method, "/", content=DESCRIBE)

    assert_refused(tc3, response, "UnsupportedProtocol")


def test_missing_action_answers_missing_parameter(http: httpx.Client, tc3: Tc3Server) -> None:
    headers = tc3_headers("DescribeJob", DESCRIBE, host=tc3.host)
    del headers["X-TC-Action"]

    message = assert_refused(
        tc3, http.post("/", content=DESCRIBE, headers=headers), "MissingParameter"
    )
    assert "X-TC-Action" in message


def test_bare_post_answers_missing_parameter(http: httpx.Client, tc3: Tc3Server) -> None:
    response = http.post("/", content=DESCRIBE, headers={"Content-Type": "application/json"})

    assert_refused(tc3, response, "MissingParameter")


def test_unknown_action_answers_invalid_action(http: httpx.Client, tc3: Tc3Server) -> None:
    message = assert_refused(tc3, post(http, tc3, "DescribeJobz", DESCRIBE), "InvalidAction")
    assert "DescribeJobz" in message


@pytest.mark.parametrize("action", ["DescribeTask", "DescribeJobMonitorData"])
def test_known_action_not_offered_answers_unsupported_operation_before_auth(
    http: httpx.Client, tc3: Tc3Server, action: str
) -> None:
    response = http.post(
        "/",
        content=b"{}",
        headers={"X-TC-Action": action, "Authorization": "nonsense", "Content-Type": "x"},
    )

    message = assert_refused(tc3, response, "UnsupportedOperation")
    assert f"`{action}` is not offered by batchd" in message


@pytest.mark.parametrize("version", ["2020-01-01", ""])
def test_wrong_version_answers_no_such_version(
    http: httpx.Client, tc3: Tc3Server, version: str
) -> None:
    assert_refused(tc3, post(http, tc3, "DescribeJob", DESCRIBE, version=version), "NoSuchVersion")


def test_unknown_action_is_checked_before_version(http: httpx.Client, tc3: Tc3Server) -> None:
    response = post(http, tc3, "Nope", DESCRIBE, version="1999-01-01")

    assert_refused(tc3, response, "InvalidAction")


def test_version_is_checked_before_authorization(http: httpx.Client, tc3: Tc3Server) -> None:
    headers = tc3_headers("DescribeJob", DESCRIBE, host=tc3.host, version="1999-01-01")
    headers["Authorization"] = "garbage"

    assert_refused(tc3, http.post("/", content=DESCRIBE, headers=headers), "NoSuchVersion")


# --- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "garbage",
        "TC3-HMAC-SHA256 Credential=AKIDtestsecretid/2024-01-01/batch/tc3_request",
        "TC3-HMAC-SHA256 Credential=AKIDtestsecretid/2024-01-01/batch, "
        "SignedHeaders=content-type;host, Signature=" + "0" * 64,
        "TC3-HMAC-SHA256 Credential=AKIDtestsecretid/2024-01-01/batch/tc3_request, "
        "SignedHeaders=content-type, Signature=" + "0" * 64,
        "TC3-HMAC-SHA256 Credential=AKIDtestsecretid/2024-01-01/batch/tc3_request, "
        "SignedHeaders=content-type;host, Signature=xyz",
        "HMAC-SHA1 Credential=AKIDtestsecretid/2024-01-01/batch/tc3_request, "
        "SignedHeaders=content-type;host, Signature=" + "0" * 64,
    ],
)
def test_bad_authorization_answers_invalid_authorization(
    http: httpx.Client, tc3: Tc3Server, authorization: str | None
) -> None:
    headers = tc3_headers("DescribeJob", DESCRIBE, host=tc3.host)
    if authorization is None:
        del headers["Authorization"]
    else:
        headers["Authorization"] = authorization

    response = http.post("/", content=DESCRIBE, headers=headers)

    assert_refused(tc3, response, "AuthFailure.InvalidAuthorization")


def test_empty_secret_id_answers_invalid_secret_id(http: httpx.Client, tc3: Tc3Server) -> None:
    nobody = Credential(app_id="x", secret_id="", secret_key="k")
    response = post(http, tc3, "DescribeJob", DESCRIBE, key=nobody)

    assert_refused(tc3, response, "AuthFailure.InvalidSecretId")


def test_unknown_secret_id_answers_secret_id_not_found(http: httpx.Client, tc3: Tc3Server) -> None:
    stranger = Credential(app_id="x", secret_id="AKIDstranger", secret_key="k")

    response = post(http, tc3, "DescribeJob", DESCRIBE, key=stranger)

    assert_refused(tc3, response, "AuthFailure.SecretIdNotFound")


@pytest.mark.parametrize("skew", [-400, 400])
def test_timestamp_outside_window_answers_signature_expire(
    http: httpx.Client, tc3: Tc3Server, skew: int
) -> None:
    response = post(http, tc3, "DescribeJob", DESCRIBE, timestamp=int(time.time()) + skew)

    assert_refused(tc3, response, "AuthFailure.SignatureExpire")


def test_timestamp_inside_window_is_accepted(http: httpx.Client, tc3: Tc3Server) -> None:
    response = post(http, tc3, "DescribeJob", DESCRIBE, timestamp=int(time.time()) - 250)

    assert envelope(response)["JobId"] == "job-abcdefgh"


@pytest.mark.parametrize(
    "signing",
    [
        {"key": Credential(app_id="x", secret_id=CREDENTIAL.secret_id, secret_key="wrong")},
        {"service": "cvm"},
        {"date": "2001-01-01"},
        {"unsigned_payload": True},  # signed as unsigned, but the header is dropped below
    ],
    ids=["wrong-key", "wrong-service", "wrong-date", "payload-hash"],
)
def test_signature_mismatch_answers_signature_failure(
    http: httpx.Client, tc3: Tc3Server, signing: dict[str, Any]
) -> None:
    headers = tc3_headers("DescribeJob", DESCRIBE, host=tc3.host, **signing)
    headers.pop("X-TC-Content-SHA256", None)

    response = http.post("/", content=DESCRIBE, headers=headers)

    assert_refused(tc3, response, "AuthFailure.SignatureFailure")


def test_body_changed_after_signing_answers_signature_failure(
    http: httpx.Client, tc3: Tc3Server
) -> None:
    headers = tc3_headers("DescribeJob", DESCRIBE, host=tc3.host)
    tampered = json_body({"JobId": "job-zzzzzzzz"})

    response = http.post("/", content=tampered, headers=headers)

    assert_refused(tc3, response, "AuthFailure.SignatureFailure")


def test_token_answers_token_failure(http: httpx.Client, tc3: Tc3Server) -> None:
    response = post(http, tc3, "DescribeJob", DESCRIBE, extra={"X-TC-Token": "temporary"})

    assert_refused(tc3, response, "AuthFailure.TokenFailure")


# --- body and parameters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"JobId=job-abcdefgh", "text/plain"),
    ],
    ids=["bad-json", "not-an-object", "not-utf8", "content-type"],
)
def test_unreadable_body_answers_invalid_parameter(
    http: httpx.Client, tc3: Tc3Server, body: bytes, content_type: str
) -> None:
    response = post(http, tc3, "DescribeJob", body, content_type=content_type)

    assert_refused(tc3, response, "InvalidParameter")


def test_unknown_field_answers_unknown_parameter(http: httpx.Client, tc3: Tc3Server) -> None:
    body = json_body({"JobId": "job-abcdefgh", "Foo": 1})

    message = assert_refused(tc3, post(http, tc3, "DescribeJob", body), "UnknownParameter")
    assert message == "The parameter `Foo` is not recognized"


def test_unknown_nested_field_answers_unknown_parameter(http: httpx.Client, tc3: Tc3Server) -> None:
    task = {"Application": {"DeliveryForm": "LOCAL", "Command": "x", "Shell": "bash"}}
    body = json_body(
        {"Placement": {"Zone": "z"}, "Job": {"Tasks": [{**task, "EnvId": "env-a1b2c3d4"}]}}
    )

    message = assert_refused(tc3, post(http, tc3, "SubmitJob", body), "UnknownParameter")
    assert message == "The parameter `Job.Tasks.0.Application.Shell` is not recognized"


def test_missing_field_answers_missing_parameter(http: httpx.Client, tc3: Tc3Server) -> None:
    message = assert_refused(tc3, post(http, tc3, "DescribeJob", b"{}"), "MissingParameter")
    assert "`JobId`" in message


def test_wrong_json_type_answers_invalid_parameter(http: httpx.Client, tc3: Tc3Server) -> None:
    body = json_body({"JobId": 5})

    message = assert_refused(tc3, post(http, tc3, "DescribeJob", body), "InvalidParameter")
    assert "`JobId` must be a string" in message


@pytest.mark.parametrize(
    "data",
    [{"Limit": 101}, {"Offset": -1}, {"Filters": [{"Name": "job-state", "Values": ["a"] * 11}]}],
)
def test_value_out_of_range_answers_invalid_parameter_value(
    http: httpx.Client, tc3: Tc3Server, data: dict[str, Any]
) -> None:
    code, _ = error_of(post(http, tc3, "DescribeJobs", json_body(data)))

    assert code.startswith("InvalidParameterValue")
    assert tc3.recorder.received == []


def test_enum_violation_answers_invalid_parameter_value(http: httpx.Client, tc3: Tc3Server) -> None:
    task = {"Application": {"DeliveryForm": "FTP", "Command": "x"}, "EnvId": "env-a1b2c3d4"}
    body = json_body({"Placement": {"Zone": "z"}, "Job": {"Tasks": [task]}})

    message = assert_refused(tc3, post(http, tc3, "SubmitJob", body), "InvalidParameterValue")
    assert "Job.Tasks.0.Application.DeliveryForm" in message


def test_handler_crash_answers_internal_error(http: httpx.Client, tc3: Tc3Server) -> None:
    code, _ = error_of(post(http, tc3, "DeleteJob", DESCRIBE))

    assert code == "InternalError"


# --- sizes -----------------------------------------------------------------------------------


def test_tc3_post_over_10_mb_answers_request_size_limit_exceeded(
    http: httpx.Client, tc3: Tc3Server
) -> None:
    body = json_body({"JobId": "job-abcdefgh", "Pad": "x" * (10 * 1024 * 1024)})

    assert_refused(tc3, post(http, tc3, "DescribeJob", body), "RequestSizeLimitExceeded")


def test_get_over_32_kb_answers_request_size_limit_exceeded(
    http: httpx.Client, tc3: Tc3Server
) -> None:
    query = "JobId=job-abcdefgh&Pad=" + "x" * (32 * 1024)
    headers = tc3_headers(
        "DescribeJob",
        b"",
        host=tc3.host,
        method="GET",
        query=query,
        content_type="application/x-www-form-urlencoded",
    )

    response = http.get(f"/?{query}", headers=headers)

    assert_refused(tc3, response, "RequestSizeLimitExceeded")


def test_v1_post_over_1_mb_answers_request_size_limit_exceeded(
    http: httpx.Client, tc3: Tc3Server
) -> None:
    params = v1_params(
        "DescribeJob", {"JobId": "job-abcdefgh", "Pad": "x" * (1024 * 1024)}, host=tc3.host
    )

    response = http.post("/", data=params)

    assert_refused(tc3, response, "RequestSizeLimitExceeded")


# --- GET and signature v1 --------------------------------------------------------------------


def get_tc3(http: httpx.Client, tc3: Tc3Server, action: str, query: str) -> httpx.Response:
    headers = tc3_headers(
        action,
        b"",
        host=tc3.host,
        method="GET",
        query=query,
        content_type="application/x-www-form-urlencoded",
    )
    return http.get(f"/?{query}", headers=headers)


def test_get_rebuilds_nested_objects_and_lists(http: httpx.Client, tc3: Tc3Server) -> None:
    query = urllib.parse.urlencode(
        {
            "Placement.Zone": "z",
            "Job.Tasks.0.Application.DeliveryForm": "LOCAL",
            "Job.Tasks.0.Application.Command": "echo hi",
            "Job.Tasks.0.EnvId": "env-a1b2c3d4",
            "Job.Tasks.0.TaskInstanceNum": "3",
            "Job.Tasks.0.RestartComputeNode": "False",
            "Job.Tasks.1.Application.DeliveryForm": "LOCAL",
            "Job.Tasks.1.Application.Commands.0.Command": "a",
            "Job.Tasks.1.Application.Commands.1.Command": "b",
            "Job.Tasks.1.EnvId": "env-a1b2c3d4",
            "Job.Priority": "9",
        }
    )

    assert envelope(get_tc3(http, tc3, "SubmitJob", query))["JobId"] == "job-fixed001"
    _, received = tc3.recorder.last("SubmitJob")
    assert received.model_dump(exclude_unset=True) == {
        "Placement": {"Zone": "z"},
        "Job": {
            "Priority": 9,
            "Tasks": [
                {
                    "Application": {"DeliveryForm": "LOCAL", "Command": "echo hi"},
                    "EnvId": "env-a1b2c3d4",
                    "TaskInstanceNum": 3,
                    "RestartComputeNode": False,
                },
                {
                    "Application": {
                        "DeliveryForm": "LOCAL",
                        "Commands": [{"Command": "a"}, {"Command": "b"}],
                    },
                    "EnvId": "env-a1b2c3d4",
                },
            ],
        },
    }


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("JobId=job-abcdefgh&JobId=job-abcdefgh", "InvalidParameter"),
        ("JobIds.1=job-abcdefgh", "InvalidParameter"),
        ("JobIds.0=job-abcdefgh&JobIds.0.x=1", "InvalidParameter"),
        ("Limit=ten", "InvalidParameter"),
        ("Limit=1000", "InvalidParameterValue"),
        ("Foo=1", "UnknownParameter"),
    ],
)
def test_bad_flattened_parameters(
    http: httpx.Client, tc3: Tc3Server, query: str, code: str
) -> None:
    assert_refused(tc3, get_tc3(http, tc3, "DescribeJobs", query), code)


def test_v1_missing_action_answers_missing_parameter(http: httpx.Client, tc3: Tc3Server) -> None:
    params = v1_params("DescribeJob", {"JobId": "job-abcdefgh"}, host=tc3.host)
    del params["Action"]

    assert_refused(tc3, http.post("/", data=params), "MissingParameter")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"Action": "Nope"}, "InvalidAction"),
        ({"Version": "2000-01-01"}, "NoSuchVersion"),
        ({"Signature": "AAAA"}, "AuthFailure.SignatureFailure"),
        ({"SecretId": "AKIDstranger"}, "AuthFailure.SecretIdNotFound"),
        ({"Timestamp": "1000"}, "AuthFailure.SignatureExpire"),
        ({"Token": "temporary"}, "AuthFailure.TokenFailure"),
        ({"SignatureMethod": "MD5"}, "InvalidParameterValue"),
    ],
)
def test_v1_errors(http: httpx.Client, tc3: Tc3Server, change: dict[str, str], code: str) -> None:
    params = v1_params("DescribeJob", {"JobId": "job-abcdefgh"}, host=tc3.host)
    params.update(change)

    assert_refused(tc3, http.post("/", data=params), code)


def test_v1_get_is_accepted(http: httpx.Client, tc3: Tc3Server) -> None:
    params = v1_params("DescribeJob", {"JobId": "job-abcdefgh"}, host=tc3.host, method="GET")

    assert envelope(http.get("/", params=params))["JobId"] == "job-abcdefgh"


def test_v1_signature_covers_the_request_parameters(http: httpx.Client, tc3: Tc3Server) -> None:
    params = v1_params("DescribeJob", {"JobId": "job-abcdefgh"}, host=tc3.host)
    params["JobId"] = "job-zzzzzzzz"

    assert_refused(tc3, http.post("/", data=params), "AuthFailure.SignatureFailure")


def test_error_answers_are_counted(http: httpx.Client, tc3: Tc3Server) -> None:
    key = ("tc3", "-", "InvalidAction")
    before = tc3.metrics.requests.get(key, 0)

    post(http, tc3, "Nope", DESCRIBE)

    assert tc3.metrics.requests[key] == before + 1


def test_answer_is_plain_json_without_charset(http: httpx.Client, tc3: Tc3Server) -> None:
    response = post(http, tc3, "DescribeJob", DESCRIBE)

    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.content)["Response"]["JobId"] == "job-abcdefgh"
