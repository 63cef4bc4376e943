"""No SecretKey, signature or `Authentications` secret shows in what the server writes (its log,
at DEBUG), answers (errors included), events, metrics or console pages, whatever is sent."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from cmq.queue import Message, QueueMeta

from tests.api.console.conftest import csrf_of
from tests.api.tdmq.client import Tdmq
from tests.batch.conftest import BatchApi, command_task
from tests.batch.test_accounts import new_account
from tests.support import CREDENTIAL, CmqAccounts, RunningServer, free_port, healthy, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

COS_SECRET = "cos-secret-key-that-must-not-show"


def extension(server: RunningServer, action: str, params: dict[str, Any]) -> Any:
    from tencentcloud.common import credential
    from tencentcloud.common.common_client import CommonClient
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    client = CommonClient(
        "batch",
        "2017-03-12",
        credential.Credential(server.credential.secret_id, server.credential.secret_key),
        "ap-guangzhou",
        ClientProfile(httpProfile=HttpProfile(endpoint=server.host, protocol="http")),
    )
    return client.call_json(action, params)


def test_no_secret_in_any_output(tmp_path: Path, cmq_accounts: CmqAccounts) -> None:
    data_dir, port = tmp_path / "data", free_port()
    log_path = tmp_path / "server.log"
    env = {
        "PATH": "/usr/bin:/bin",
        "BATCHD_APPID": CREDENTIAL.app_id,
        "BATCHD_SECRET_ID": CREDENTIAL.secret_id,
        "BATCHD_SECRET_KEY": CREDENTIAL.secret_key,
    }
    answers: list[str] = []
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "batchd.app", "serve", "--data-dir", str(data_dir)),
                *("--port", str(port), "--log-level", "DEBUG"),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda: healthy(base), timeout=60, interval=0.1)
            server = RunningServer(base, data_dir, f"sqlite:///{data_dir / 'batchd.db'}")
            other = new_account(server, "team-b")
            batch = BatchApi(server)
            env_id = batch.env(nodes=1)
            job = batch.submit(
                [
                    command_task(
                        "t",
                        env_id,
                        "echo hi",
                        Authentications=[
                            {"Scene": "COS", "SecretId": "cos-id", "SecretKey": COS_SECRET}
                        ],
                    )
                ]
            )
            batch.finished(job)
            answers.append(str(batch("DescribeJob", {"JobId": job})))
            answers.append(str(batch("DescribeJobSubmitInfo", {"JobId": job})))
            account: Any = cmq_accounts(base, other.credential)
            account.get_queue("q").create(QueueMeta())
            account.get_queue("q").send_message(Message("m"))
            Tdmq(other)("DescribeCmqQueues")
            # Refusals: a wrong key for each protocol, a wrong signature.
            wrong = RunningServer(
                base,
                data_dir,
                server.database_url,
                CREDENTIAL.__class__(
                    app_id=CREDENTIAL.app_id, secret_id=CREDENTIAL.secret_id, secret_key="wrong"
                ),
            )
            answers.append(str(Tdmq(wrong).error("DescribeCmqQueues")))
            answers.append(httpx.get(f"{base}/metrics").text)
            auth = (CREDENTIAL.secret_id, CREDENTIAL.secret_key)
            answers.append(httpx.get(f"{base}/metrics", auth=auth).text)
            with httpx.Client(base_url=base, follow_redirects=True) as browser:
                form = browser.get("/console/sign-in")
                for key in ("wrong", CREDENTIAL.secret_key):
                    page = browser.post(
                        "/console/sign-in",
                        data={
                            "csrf": csrf_of(browser.get("/console/sign-in").text),
                            "secret_id": CREDENTIAL.secret_id,
                            "secret_key": key,
                            "region": "ap-guangzhou",
                        },
                    )
                    answers.append(page.text)
                answers.append(form.text)
                for path in ("/console/jobs", f"/console/jobs/{job}", "/console/envs"):
                    answers.append(browser.get(path).text)
            answers.append(str(extension(server, "DescribeEvents", {"OwnerId": job})))
            answers.append(str(extension(server, "DescribeAuditEvents", {})))
        finally:
            process.terminate()
            process.wait(timeout=40)

    written = log_path.read_text(errors="replace") + "\n".join(answers)
    secrets = [CREDENTIAL.secret_key, other.credential.secret_key, COS_SECRET]
    for secret in secrets:
        assert secret not in written
        assert base64.b64encode(secret.encode()).decode() not in written
    assert "DEBUG" in log_path.read_text(errors="replace")  # the log was at its most verbose
