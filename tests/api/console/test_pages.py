"""The console over HTTP: sign-in, the session cookie, CSRF, scoping, and errors that read like
the API's (same code, same message) without a stack trace."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx
import pytest

from tests.api.console.conftest import csrf_of, sign_in
from tests.support import CREDENTIAL, RunningServer

ERROR = re.compile(r'id="submit-error"><strong>([^<]+)</strong>: ([^<]+)</div>')


def batch_api(server: RunningServer, action: str, params: dict[str, Any]) -> Any:
    """The official SDK's answer as JSON (every field the server sent), or its exception."""
    from tencentcloud.batch.v20170312 import batch_client
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
        TencentCloudSDKException,
    )
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=server.host))
    client = batch_client.BatchClient(
        credential.Credential(CREDENTIAL.secret_id, CREDENTIAL.secret_key),
        "ap-guangzhou",
        profile,
    )
    try:
        return client.call_json(action, params)["Response"]
    except TencentCloudSDKException as error:
        return error


def test_pages_need_a_session(client: httpx.Client) -> None:
    response = client.get("/console/jobs?state=RUNNING")

    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in?next=/console/jobs%3Fstate%3DRUNNING"
    assert client.get("/console/jobs/rows").status_code == 401
    assert client.get("/console", follow_redirects=True).url.path == "/console/sign-in"


def test_a_wrong_key_is_refused_without_saying_which_part(client: httpx.Client) -> None:
    form = client.get("/console/sign-in")
    for secret_id, secret_key in ((CREDENTIAL.secret_id, "wrong"), ("AKIDnobody", "x")):
        response = client.post(
            "/console/sign-in",
            data={
                "csrf": csrf_of(form.text),
                "secret_id": secret_id,
                "secret_key": secret_key,
                "region": "ap-guangzhou",
            },
        )
        assert response.status_code == 401
        assert "do not match an API key of this server" in response.text
    assert client.get("/console/jobs").status_code == 303


def test_sign_in_sets_a_signed_http_only_cookie_for_the_console(client: httpx.Client) -> None:
    response = sign_in(client)

    assert response.status_code == 303
    assert response.headers["location"] == "/console/jobs"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/console" in cookie
    assert CREDENTIAL.secret_key not in response.headers["set-cookie"]
    page = client.get("/console/jobs")
    assert page.status_code == 200
    assert f"{CREDENTIAL.app_id} · ap-guangzhou" in html.unescape(page.text)
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_a_tampered_cookie_is_a_signed_out_visitor(signed_in: httpx.Client) -> None:
    value = signed_in.cookies["batchd_console"]
    signed_in.cookies.clear()
    signed_in.cookies.set("batchd_console", value[:-3] + "AAA", path="/console")

    assert signed_in.get("/console/jobs").status_code == 303


def test_after_sign_in_only_console_pages_are_followed(client: httpx.Client) -> None:
    form = client.get("/console/sign-in?next=//evil.example/x")
    response = client.post(
        "/console/sign-in?next=//evil.example/x",
        data={
            "csrf": csrf_of(form.text),
            "secret_id": CREDENTIAL.secret_id,
            "secret_key": CREDENTIAL.secret_key,
            "region": "ap-guangzhou",
        },
    )
    assert response.headers["location"] == "/console/jobs"


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    signed_in: httpx.Client,
) -> None:
    for token in ("", "forged"):
        response = signed_in.post("/console/queues", data={"csrf": token, "name": "sneaky"})
        assert response.status_code == 403
        assert "CsrfTokenMismatch" in response.text
    assert "sneaky" not in signed_in.get("/console/queues").text


def test_sign_out_ends_the_session(signed_in: httpx.Client) -> None:
    token = csrf_of(signed_in.get("/console/jobs").text)

    assert signed_in.post("/console/sign-out", data={"csrf": token}).status_code == 303
    assert signed_in.get("/console/jobs").status_code == 303


def test_pages_show_only_the_signed_in_region(console_server: RunningServer) -> None:
    with (
        httpx.Client(base_url=console_server.base_url) as here,
        httpx.Client(base_url=console_server.base_url) as there,
    ):
        sign_in(here, "ap-guangzhou")
        sign_in(there, "ap-shanghai")
        token = csrf_of(here.get("/console/queues").text)
        assert here.post("/console/queues", data={"csrf": token, "name": "mine"}).is_redirect

        assert ">mine</a>" in here.get("/console/queues").text
        assert ">mine</a>" not in there.get("/console/queues").text
        assert there.get("/console/queues/mine").status_code == 404


def test_a_cmq_short_region_name_is_its_long_name(console_server: RunningServer) -> None:
    with (
        httpx.Client(base_url=console_server.base_url) as long_name,
        httpx.Client(base_url=console_server.base_url) as short_name,
    ):
        sign_in(long_name, "ap-guangzhou")
        sign_in(short_name, "gz")  # tdmq-api.md §3
        token = csrf_of(long_name.get("/console/queues").text)
        assert long_name.post("/console/queues", data={"csrf": token, "name": "one"}).is_redirect

        page = short_name.get("/console/queues").text
        assert ">one</a>" in page
        assert "ap-guangzhou" in page


def test_a_refused_action_shows_the_cmq_code_and_keeps_the_input(signed_in: httpx.Client) -> None:
    token = csrf_of(signed_in.get("/console/queues").text)

    response = signed_in.post(
        "/console/queues", data={"csrf": token, "name": "bad name!"}, follow_redirects=True
    )

    assert response.status_code == 200
    assert "4000: (10020)queue name format error" in html.unescape(response.text)
    assert 'value="bad name!"' in response.text


def test_a_missing_job_is_a_not_found_page_with_the_api_code(signed_in: httpx.Client) -> None:
    response = signed_in.get("/console/jobs/job-abcdefgh")

    assert response.status_code == 404
    assert "ResourceNotFound.Job" in response.text
    assert "job job-abcdefgh does not exist" in response.text
    assert "Traceback" not in response.text
    malformed = signed_in.get("/console/jobs/not-a-job")
    assert malformed.status_code == 400
    assert "InvalidParameter.JobIdMalformed" in malformed.text


def test_an_unknown_page_is_a_readable_404(signed_in: httpx.Client) -> None:
    response = signed_in.get("/console/nothing/here")

    assert response.status_code == 404
    assert "There is no console page here." in response.text


@pytest.mark.parametrize(
    "job",
    [
        {"Tasks": [{"Application": {"DeliveryForm": "LOCAL", "Command": "true"}}]},
        {"Tasks": [], "JobName": "empty"},
        {
            "Tasks": [
                {
                    "EnvId": "env-abcdefgh",
                    "Application": {"DeliveryForm": "LOCAL", "Command": "true"},
                }
            ],
            "Notifications": [{"TopicName": "no-such-topic", "EventConfigs": [{"EventName": "X"}]}],
        },
    ],
)
def test_a_bad_job_fails_as_the_api_fails_and_nothing_is_stored(
    console_server: RunningServer, signed_in: httpx.Client, job: dict[str, Any]
) -> None:
    request = {"Placement": {"Zone": "ap-guangzhou-1"}, "Job": job}
    token = csrf_of(signed_in.get("/console/jobs/new").text)
    before = batch_api(console_server, "DescribeJobs", {})["TotalCount"]

    response = signed_in.post(
        "/console/jobs/new", data={"csrf": token, "request": json.dumps(request)}
    )

    assert response.status_code == 400
    match = ERROR.search(response.text)
    assert match, response.text
    api = batch_api(console_server, "SubmitJob", request)
    assert (match.group(1), html.unescape(match.group(2))) == (api.code, api.message)
    assert json.dumps(request) in html.unescape(response.text)  # the editor keeps the text
    assert batch_api(console_server, "DescribeJobs", {})["TotalCount"] == before


def test_a_picked_notification_is_attached_to_the_submitted_job(
    console_server: RunningServer, signed_in: httpx.Client
) -> None:
    token = csrf_of(signed_in.get("/console/topics").text)
    signed_in.post("/console/topics", data={"csrf": token, "name": "attach-events"})
    env_id = batch_api(
        console_server,
        "CreateComputeEnv",
        {
            "ComputeEnv": {"EnvName": "idle", "DesiredComputeNodeCount": 0},
            "Placement": {"Zone": "ap-guangzhou-1"},
        },
    )["EnvId"]
    request = {
        "Placement": {"Zone": "ap-guangzhou-1"},
        "Job": {
            "Tasks": [
                {"EnvId": env_id, "Application": {"DeliveryForm": "LOCAL", "Command": "true"}}
            ]
        },
    }

    response = signed_in.post(
        "/console/jobs/new",
        data={
            "csrf": token,
            "request": json.dumps(request),
            "topic": "attach-events",
            "event": ["JobSucceed", "TASK_FAILED"],
        },
    )

    assert response.status_code == 303
    job_id = response.headers["location"].rsplit("/", 1)[1]
    info = batch_api(console_server, "DescribeJobSubmitInfo", {"JobId": job_id})
    assert info["Notifications"] == [
        {
            "TopicName": "attach-events",
            "EventConfigs": [
                {"EventName": "JOB_SUCCEED", "EventVars": []},
                {"EventName": "TASK_FAILED", "EventVars": []},
            ],
        }
    ]
    page = signed_in.get(f"/console/jobs/{job_id}")
    assert page.status_code == 200
    assert 'data-task="Task1"' in page.text
    token = csrf_of(page.text)
    signed_in.post(f"/console/jobs/{job_id}/terminate", data={"csrf": token})


def test_an_environment_form_error_reads_like_the_api(
    console_server: RunningServer, signed_in: httpx.Client
) -> None:
    token = csrf_of(signed_in.get("/console/envs/new").text)

    response = signed_in.post(
        "/console/envs/new",
        data={
            "csrf": token,
            "name": "e",
            "zone": "ap-guangzhou-1",
            "desired": "two",
            "instance_type": "S5.SMALL1",
        },
        follow_redirects=True,
    )

    assert response.url.path == "/console/envs/new"
    text = html.unescape(response.text)
    assert (
        "InvalidParameter: The value of `ComputeEnv.DesiredComputeNodeCount` must be an integer"
        in text
    )
    assert 'value="two"' in response.text


def test_static_files_are_shipped_in_the_package(client: httpx.Client) -> None:
    for name, kind in (("console.css", "text/css"), ("console.js", "javascript")):
        response = client.get(f"/console/static/{name}")
        assert response.status_code == 200
        assert kind in response.headers["content-type"]
    assert "http" not in client.get("/console/static/console.js").text.replace("http-equiv", "")


def test_the_job_list_filters_and_pages(
    console_server: RunningServer, signed_in: httpx.Client
) -> None:
    env_id = batch_api(
        console_server,
        "CreateComputeEnv",
        {
            "ComputeEnv": {"EnvName": "idle", "DesiredComputeNodeCount": 0},
            "Placement": {"Zone": "ap-guangzhou-1"},
        },
    )["EnvId"]

    def submit(name: str, zone: str, tag: str) -> str:
        task = {"EnvId": env_id, "Application": {"DeliveryForm": "LOCAL", "Command": "true"}}
        job = {"JobName": name, "Tasks": [task], "Tags": [{"Key": "team", "Value": tag}]}
        answer = batch_api(console_server, "SubmitJob", {"Placement": {"Zone": zone}, "Job": job})
        return str(answer["JobId"])

    red = submit("red-job", "ap-guangzhou-3", "red")
    blue = [submit(f"blue-{n}", "ap-guangzhou-4", "blue") for n in range(21)]

    def listed(query: str) -> str:
        response = signed_in.get(f"/console/jobs?{query}")
        assert response.status_code == 200
        return response.text

    assert red in listed("tag=team%3Dred")
    assert blue[0] not in listed("tag=team%3Dred")
    assert "(22 in all)" in listed("tag=team")  # tag-key: both kinds
    assert red in listed("name=red-job")
    assert blue[0] not in listed("name=red-job")
    assert red in listed("zone=ap-guangzhou-3")
    assert blue[0] not in listed("zone=ap-guangzhou-3")
    assert red not in listed("state=SUCCEED")
    first, second = listed("zone=ap-guangzhou-4"), listed("zone=ap-guangzhou-4&page=2")
    assert "Page 1 of 2 (21 in all)" in first
    assert "Page 2 of 2" in second
    assert sum(job in first for job in blue) == 20
    assert sum(job in second for job in blue) == 1
    assert 'href="/console/jobs?zone=ap-guangzhou-4&amp;page=2"' in first
    rows = signed_in.get("/console/jobs/rows?zone=ap-guangzhou-3")
    assert rows.status_code == 200
    assert red in rows.text
    assert "<html" not in rows.text


def test_scale_and_delete_an_environment(signed_in: httpx.Client) -> None:
    token = csrf_of(signed_in.get("/console/envs/new").text)
    created = signed_in.post(
        "/console/envs/new",
        data={
            "csrf": token,
            "name": "to-delete",
            "zone": "ap-guangzhou-1",
            "desired": "0",
            "instance_type": "S5.MEDIUM4",
        },
    )
    page = created.headers["location"]
    assert re.fullmatch(r"/console/envs/env-[a-z0-9]{8}", page)

    refused = signed_in.post(f"{page}/scale", data={"csrf": token, "desired": "-1"})
    assert refused.headers["location"] == page
    assert "InvalidParameter" in html.unescape(signed_in.get(page).text)
    scaled = signed_in.post(f"{page}/scale", data={"csrf": token, "desired": "0"})
    assert "now wants 0 nodes" in signed_in.get(scaled.headers["location"]).text

    deleted = signed_in.post(f"{page}/delete", data={"csrf": token})
    assert deleted.headers["location"] == "/console/envs"
    assert "is being deleted" in signed_in.get("/console/envs").text


def test_a_refused_job_action_is_a_note_on_the_job_page(
    console_server: RunningServer, signed_in: httpx.Client
) -> None:
    env_id = batch_api(
        console_server,
        "CreateComputeEnv",
        {
            "ComputeEnv": {"EnvName": "idle", "DesiredComputeNodeCount": 0},
            "Placement": {"Zone": "ap-guangzhou-1"},
        },
    )["EnvId"]
    task = {"EnvId": env_id, "Application": {"DeliveryForm": "LOCAL", "Command": "true"}}
    job_id = batch_api(
        console_server,
        "SubmitJob",
        {"Placement": {"Zone": "ap-guangzhou-1"}, "Job": {"Tasks": [task]}},
    )["JobId"]
    token = csrf_of(signed_in.get(f"/console/jobs/{job_id}").text)

    response = signed_in.post(
        f"/console/jobs/{job_id}/delete", data={"csrf": token}, follow_redirects=True
    )

    assert response.url.path == f"/console/jobs/{job_id}"
    assert "ResourceInUse.Job: job" in html.unescape(response.text)
    retry = signed_in.post(
        f"/console/jobs/{job_id}/retry", data={"csrf": token}, follow_redirects=True
    )
    assert "only FAILED jobs can be retried" in html.unescape(retry.text)


def test_dead_letters_list_and_redrive(signed_in: httpx.Client) -> None:
    page = signed_in.get("/console/dead-letters")
    assert "No dead letters." in page.text

    response = signed_in.post(
        "/console/dead-letters/redrive", data={"csrf": csrf_of(page.text)}, follow_redirects=True
    )

    assert "Redriven: 0 deliveries." in response.text
