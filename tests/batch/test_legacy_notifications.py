"""Notifications configured by users' own tools, end to end on real Dask workers.

The founding doc's legacy spelling (`notifications` / `topic_name` / `event_configs` /
`event_name: "JobSucceed"` / `event_vars` with `name`/`value`) through `batchd submit --wait`
and through a raw JSON request of the official SDK (`call_json`); the v3 spelling through
`tccli batch CreateComputeEnv --endpoint`. In each, the event reaches a queue subscribed to the
topic with its canonical name and its EventVars in the v3 spelling, Base64 in `msgBody`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.batch.conftest import BatchApi, command_task
from tests.cli.conftest import clean_env, run
from tests.support import CmqAccounts, RunningServer

pytestmark = pytest.mark.timeout(240)

ZONE = "ap-guangzhou-2"
DEADLINE = 120.0  # seconds: each step is a fresh process on a loaded 2-core machine
TOPIC = "job-message"
QUEUE = "batch-events"
# The founding doc's example (events.md §2.2), verbatim.
FOUNDING_NOTIFICATIONS: list[dict[str, Any]] = [
    {
        "topic_name": TOPIC,
        "event_configs": [
            {"event_name": "JobFailed"},
            {
                "event_name": "JobSucceed",
                "event_vars": [{"name": "jobSucceed", "value": "Success"}],
            },
        ],
    }
]
# ... and the v3 spelling with canonical names every answer uses for it.
FOUNDING_V3 = [
    {
        "TopicName": TOPIC,
        "EventConfigs": [
            {"EventName": "JOB_FAILED", "EventVars": []},
            {"EventName": "JOB_SUCCEED", "EventVars": [{"Name": "jobSucceed", "Value": "Success"}]},
        ],
    }
]


def topic_with_queue(account: Any, topic: str, queue: str) -> None:
    """A topic and a queue that receives everything published to it, via the CMQ SDK."""
    from cmq.queue import QueueMeta
    from cmq.subscription import SubscriptionMeta
    from cmq.topic import TopicMeta

    account.get_queue(queue).create(QueueMeta())
    account.get_topic(topic).create(TopicMeta())
    meta = SubscriptionMeta()
    meta.Protocal, meta.Endpoint, meta.NotifyContentFormat = "queue", queue, "SIMPLIFIED"
    account.get_subscription(topic, f"{queue}-sub").create(meta)


def decode(msg_body: str) -> dict[str, Any]:
    """The one event of a `msgBody`, which must be Base64 (not raw JSON) of the envelope."""
    assert not msg_body.lstrip().startswith("{"), msg_body
    try:
        raw = base64.b64decode(msg_body, validate=True)
    except binascii.Error as error:
        raise AssertionError(f"msgBody is not Base64: {msg_body!r}") from error
    (event,) = json.loads(raw)["Events"]
    assert isinstance(event, dict)
    return event


def received(account: Any, queue: str, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Receive and delete until `count` messages have come, then until the queue stays empty for
    a second (so that an extra message would show); the decoded events in arrival order."""
    from cmq.cmq_exception import CMQServerException

    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            messages = account.get_queue(queue).batch_receive_message(16, 1)
        except CMQServerException as error:
            if error.code != 7000:  # 7000: no message
                raise
            if len(events) >= count:
                return events
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(events)} of {count} events: {events}") from None
            continue
        for message in messages:
            events.append(decode(message.msgBody))
            account.get_queue(queue).delete_message(message.receiptHandle)


def describe_submit_info(batch: BatchApi, job_id: str) -> dict[str, Any]:
    """DescribeJobSubmitInfo as raw JSON: the typed SDK model has no `Notifications`."""
    answer: dict[str, Any] = batch.client.call_json("DescribeJobSubmitInfo", {"JobId": job_id})
    return dict(answer["Response"])


def test_batchd_submit_wait_takes_the_founding_docs_job_file(
    server: RunningServer, batch: BatchApi, cmq_accounts: CmqAccounts, tmp_path: Path
) -> None:
    """`batchd submit FILE --wait` with the founding doc's `notifications`: the job succeeds and
    its JOB_SUCCEED message, with the `jobSucceed` EventVar in v3 spelling, reaches the queue;
    JobFailed sends nothing."""
    account = cmq_accounts(server.base_url)
    topic_with_queue(account, TOPIC, QUEUE)
    env_id = batch.env(nodes=1)
    job_file = tmp_path / "job.json"
    job_file.write_text(
        json.dumps(
            {
                "Placement": {"Zone": ZONE},
                "Job": {
                    "JobName": "legacy-cli",
                    "Tasks": [command_task("hello", env_id, "echo hello")],
                    "notifications": FOUNDING_NOTIFICATIONS,
                },
            }
        )
    )
    env = clean_env(
        {
            "BATCHD_APPID": server.credential.app_id,
            "BATCHD_SECRET_ID": server.credential.secret_id,
            "BATCHD_SECRET_KEY": server.credential.secret_key,
        }
    )

    done = run(
        ["submit", str(job_file), "--wait", "--endpoint", server.base_url],
        env,
        tmp_path,
        timeout=DEADLINE,
    )

    assert done.code == 0, str(done)
    job_id = done.stdout.strip()
    assert f"job {job_id} SUCCEED" in done.stderr, str(done)
    (event,) = received(account, QUEUE, 1)
    assert event["EventName"] == "JOB_SUCCEED"
    assert event["EventVars"] == [{"Name": "jobSucceed", "Value": "Success"}]
    assert (event["Batch"]["JobId"], event["Batch"]["JobState"]) == (job_id, "SUCCEED")
    assert describe_submit_info(batch, job_id)["Notifications"] == FOUNDING_V3


def test_a_raw_json_submit_job_takes_the_legacy_spelling(
    server: RunningServer, batch: BatchApi, cmq_accounts: CmqAccounts
) -> None:
    """The SDK's `call_json("SubmitJob", …)` with the founding doc's `notifications`: the job
    fails and only its JOB_FAILED message reaches the queue, with `EventVars: []`."""
    account = cmq_accounts(server.base_url)
    topic_with_queue(account, TOPIC, QUEUE)
    env_id = batch.env(nodes=1)
    params = {
        "Placement": {"Zone": ZONE},
        "Job": {
            "JobName": "legacy-json",
            "Tasks": [command_task("fails", env_id, "exit 3")],
            "notifications": FOUNDING_NOTIFICATIONS,
        },
    }

    job_id = str(batch.client.call_json("SubmitJob", params)["Response"]["JobId"])

    assert batch.finished(job_id)["JobState"] == "FAILED"
    (event,) = received(account, QUEUE, 1)
    assert event["EventName"] == "JOB_FAILED"
    assert event["EventVars"] == []
    assert (event["Batch"]["JobId"], event["Batch"]["JobState"]) == (job_id, "FAILED")
    assert describe_submit_info(batch, job_id)["Notifications"] == FOUNDING_V3


def tccli(server: RunningServer, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`tccli batch ARGS --endpoint URL` with the server's key, as users run it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TENCENTCLOUD_")}
    env.update(
        HOME=str(home),  # tccli writes its configuration on first run
        TENCENTCLOUD_SECRET_ID=server.credential.secret_id,
        TENCENTCLOUD_SECRET_KEY=server.credential.secret_key,
        TENCENTCLOUD_REGION="ap-guangzhou",
    )
    command = [str(Path(sys.executable).parent / "tccli"), "batch", *args]
    return subprocess.run(
        [*command, "--endpoint", server.base_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


def test_tccli_create_compute_env_with_notifications(
    server: RunningServer, batch: BatchApi, cmq_accounts: CmqAccounts, tmp_path: Path
) -> None:
    """`tccli batch CreateComputeEnv` with Notifications (an alias among them): the env's
    COMPUTE_ENV_CREATED and node events reach the queue canonically named, DescribeComputeEnv-
    CreateInfo shows them canonically, and a job event on the env is refused with its code."""
    account = cmq_accounts(server.base_url)
    topic_with_queue(account, TOPIC, QUEUE)
    notifications = [
        {
            "TopicName": TOPIC,
            "EventConfigs": [
                {"EventName": "ComputeEnvCreated", "EventVars": [{"Name": "by", "Value": "tccli"}]},
                {"EventName": "COMPUTE_NODE_RUNNING", "EventVars": []},
            ],
        }
    ]
    env = {
        "EnvName": "from-tccli",
        "DesiredComputeNodeCount": 1,
        "EnvData": {"InstanceType": "S5.SMALL1"},
        "Notifications": notifications,
        "NotificationTarget": "CMQ",
    }
    placement = json.dumps({"Zone": ZONE})

    created = tccli(
        server,
        tmp_path,
        "CreateComputeEnv",
        "--ComputeEnv",
        json.dumps(env),
        "--Placement",
        placement,
    )

    assert created.returncode == 0, created.stdout + created.stderr
    env_id = json.loads(created.stdout)["EnvId"]
    events = received(account, QUEUE, 2)
    assert [e["EventName"] for e in events] == ["COMPUTE_ENV_CREATED", "COMPUTE_NODE_RUNNING"]
    assert events[0]["EventVars"] == [{"Name": "by", "Value": "tccli"}]
    assert events[0]["Batch"]["EnvId"] == env_id
    assert events[1]["EventVars"] == []
    assert events[1]["Batch"]["EnvId"] == env_id
    shown = tccli(server, tmp_path, "DescribeComputeEnvCreateInfo", "--EnvId", env_id)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert json.loads(shown.stdout)["Notifications"] == [
        {
            "TopicName": TOPIC,
            "EventConfigs": [
                {
                    "EventName": "COMPUTE_ENV_CREATED",
                    "EventVars": [{"Name": "by", "Value": "tccli"}],
                },
                {"EventName": "COMPUTE_NODE_RUNNING", "EventVars": []},
            ],
        }
    ]

    wrong = {
        **env,
        "EnvName": "wrong",
        "Notifications": [
            {"TopicName": TOPIC, "EventConfigs": [{"EventName": "JobFailed", "EventVars": []}]}
        ],
    }
    refused = tccli(
        server,
        tmp_path,
        "CreateComputeEnv",
        "--ComputeEnv",
        json.dumps(wrong),
        "--Placement",
        placement,
    )
    assert refused.returncode != 0
    assert "code:InvalidParameterValue message:" in refused.stdout + refused.stderr
    assert batch("DescribeComputeEnvs", {})["TotalCount"] == 1
