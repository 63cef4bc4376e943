"""The official Node.js SDK, pointed at 127.0.0.1:<port>, drives both API 3.0 products of batchd:
the Batch API (a job with notifications, its state and logs) and the TDMQ API (the queue, topic
and subscription its events fill, send and publish). It signs the host without the port and
names the service `127` (tdmq-api.md §4)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from tests.batch.conftest import BatchApi, command_task
from tests.node_sdk import NodeSdk
from tests.support import CmqAccounts, RunningServer


@pytest.fixture
def node(server: RunningServer) -> Iterator[NodeSdk]:
    with NodeSdk(server) as sdk:
        yield sdk


def test_node_sdk_runs_a_job_whose_events_fill_a_tdmq_queue(
    server: RunningServer, node: NodeSdk, batch: BatchApi, cmq_accounts: CmqAccounts
) -> None:
    queue_id = node("tdmq", "CreateCmqQueue", {"QueueName": "node-events"})["QueueId"]
    node("tdmq", "CreateCmqTopic", {"TopicName": "node-topic"})
    node(
        "tdmq",
        "CreateCmqSubscribe",
        {
            "TopicName": "node-topic",
            "SubscriptionName": "to-queue",
            "Protocol": "queue",
            "Endpoint": "node-events",
            "NotifyContentFormat": "SIMPLIFIED",
        },
    )
    env_id = batch.env(nodes=1)

    job_id = node(
        "batch",
        "SubmitJob",
        {
            "Placement": {"Zone": "ap-guangzhou-2"},
            "Job": {
                "JobName": "from-node",
                "Tasks": [command_task("hello", env_id, "echo hello from node", TaskInstanceNum=2)],
                "Notifications": [
                    {
                        "TopicName": "node-topic",
                        "EventConfigs": [{"EventName": "JOB_SUCCEED"}],
                    }
                ],
            },
        },
    )["JobId"]
    batch.finished(job_id)
    job = node("batch", "DescribeJob", {"JobId": job_id})
    logs = node("batch", "DescribeTaskLogs", {"JobId": job_id, "TaskName": "hello"})

    assert (job["JobName"], job["JobState"]) == ("from-node", "SUCCEED")
    stdouts = [log["StdoutLog"].partition("base64,")[2] for log in logs["TaskInstanceLogSet"]]
    assert sorted(base64.b64decode(data) for data in stdouts) == [
        b"hello from node\n",
        b"hello from node\n",
    ]
    account = cmq_accounts(server.base_url)
    event = json.loads(
        base64.b64decode(account.get_queue("node-events").receive_message(10).msgBody)
    )
    assert [(e["EventName"], e["Batch"]["JobId"]) for e in event["Events"]] == [
        ("JOB_SUCCEED", job_id)
    ]

    detail = node("tdmq", "DescribeCmqQueueDetail", {"QueueName": "node-events"})
    assert detail["QueueDescribe"]["QueueId"] == queue_id


def test_node_sdk_sends_and_publishes(
    server: RunningServer, node: NodeSdk, cmq_accounts: CmqAccounts
) -> None:
    node("tdmq", "CreateCmqQueue", {"QueueName": "direct"})
    node("tdmq", "CreateCmqTopic", {"TopicName": "fan"})
    node(
        "tdmq",
        "CreateCmqSubscribe",
        {
            "TopicName": "fan",
            "SubscriptionName": "s",
            "Protocol": "queue",
            "Endpoint": "direct",
            "NotifyContentFormat": "SIMPLIFIED",
        },
    )

    sent = node(
        "tdmq", "SendCmqMsg", {"QueueName": "direct", "MsgContent": "sent", "DelaySeconds": 0}
    )
    published = node("tdmq", "PublishCmqMsg", {"TopicName": "fan", "MsgContent": "published"})

    assert sent["Result"] is True
    assert published["Result"] is True
    queue = cmq_accounts(server.base_url).get_queue("direct")
    bodies = {queue.receive_message(5).msgBody for _ in range(2)}
    assert bodies == {"sent", "published"}
    listed = node("tdmq", "DescribeCmqSubscriptionDetail", {"TopicName": "fan"})
    assert [s["Endpoint"] for s in listed["SubscriptionSet"]] == ["direct"]


def test_node_sdk_sees_the_protocols_error_codes(node: NodeSdk) -> None:
    missing = node.error("tdmq", "DescribeCmqQueueDetail", {"QueueName": "nothing-here"})
    unknown_job = node.error("batch", "DescribeJob", {"JobId": "job-zzzzzzzz"})
    not_cmq = node.error("tdmq", "DescribeClusters", {})

    assert missing.code == "ResourceNotFound"
    assert unknown_job.code == "ResourceNotFound.Job"
    assert not_cmq.code == "UnsupportedOperation"
