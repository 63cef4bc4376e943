"""Two accounts on one server, each driven through the official clients, cannot see, change or
notify into each other's resources (a resource of another account is answered as missing)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from cmq.cmq_exception import CMQServerException
from cmq.queue import QueueMeta
from cmq.topic import TopicMeta
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from batchd.domain.account import Credential
from tests.api.console.conftest import sign_in
from tests.api.tdmq.client import Tdmq
from tests.api.tdmq.test_tccli import tccli
from tests.batch.conftest import BatchApi, command_task
from tests.support import CmqAccounts, RunningServer


def new_account(server: RunningServer, name: str) -> RunningServer:
    """A new account made by the administrator; the server as that account's clients see it."""
    http = HttpProfile(endpoint=server.host, protocol="http")
    client = CommonClient(
        "batch",
        "2017-03-12",
        credential.Credential(server.credential.secret_id, server.credential.secret_key),
        "ap-guangzhou",
        ClientProfile(httpProfile=http),
    )
    made = client.call_json("CreateAccount", {"AccountName": name})["Response"]
    key = Credential(app_id=made["AppId"], secret_id=made["SecretId"], secret_key=made["SecretKey"])
    return RunningServer(server.base_url, server.data_dir, server.database_url, key)


def refused(call: Any) -> str:
    with pytest.raises(TencentCloudSDKException) as caught:
        call()
    return str(caught.value.code)


def test_accounts_are_walled_off_in_every_protocol(
    server: RunningServer, batch: BatchApi, cmq_accounts: CmqAccounts, tmp_path: Any
) -> None:
    other = new_account(server, "team-b")
    theirs = BatchApi(other)
    mine_cmq, their_cmq = (
        cmq_accounts(server.base_url),
        cmq_accounts(other.base_url, other.credential),
    )
    mine_cmq.get_queue("mine").create(QueueMeta())
    mine_cmq.get_topic("my-topic").create(TopicMeta())
    their_cmq.get_queue("theirs").create(QueueMeta())
    env_id = batch.env(nodes=1)
    job_id = batch.submit([command_task("t", env_id, "true")], JobName="secret-job")
    batch.finished(job_id)

    # Batch API: ids and names of the other account are unknown, counts leave them out.
    assert refused(lambda: theirs("DescribeJob", {"JobId": job_id})) == "ResourceNotFound.Job"
    assert refused(lambda: theirs("TerminateJob", {"JobId": job_id})) == "ResourceNotFound.Job"
    assert refused(lambda: theirs("DescribeComputeEnv", {"EnvId": env_id})) == (
        "ResourceNotFound.ComputeEnv"
    )
    assert theirs("DescribeJobs", {})["TotalCount"] == 0
    assert theirs("DescribeComputeEnvs", {})["TotalCount"] == 0
    # Notifications name topics of the caller's own account only.
    notify_mine = [{"TopicName": "my-topic", "EventConfigs": [{"EventName": "JOB_SUCCEED"}]}]
    assert refused(
        lambda: theirs.submit([command_task("t", env_id, "true")], Notifications=notify_mine)
    ).startswith(("InvalidParameter", "ResourceNotFound"))
    assert theirs("DescribeJobs", {})["TotalCount"] == 0

    # CMQ 2.0 and TDMQ: each lists its own queues, the other's is missing.
    assert [q["queueName"] for q in their_cmq.list_queue()[1]] == ["theirs"]
    with pytest.raises(CMQServerException) as missing:
        their_cmq.get_queue("mine").get_attributes()
    assert missing.value.code == 4440
    assert [q.QueueName for q in Tdmq(other)("DescribeCmqQueues").QueueList] == ["theirs"]
    assert Tdmq(other).error("DescribeCmqTopicDetail", TopicName="my-topic").code == (
        "ResourceNotFound.Topic"
    )
    listed = tccli(other, tmp_path, "DescribeCmqQueues")
    assert [q["QueueName"] for q in listed["QueueList"]] == ["theirs"]

    # The console signs in with any enabled key and shows that key's account.
    with httpx.Client(base_url=server.base_url, follow_redirects=True) as browser:
        sign_in(browser, credential=other.credential)
        queues = browser.get("/console/queues")
        assert "theirs" in queues.text
        assert ">mine<" not in queues.text
        assert browser.get("/console/queues/mine").status_code == 404
        assert browser.get(f"/console/jobs/{job_id}").status_code == 404
    assert [q["queueName"] for q in mine_cmq.list_queue()[1]] == ["mine"]
