"""Event notifications end to end: the official Batch SDK configures them, real Dask workers make
the transitions, the official CMQ SDK receives the messages and a real HTTP endpoint gets pushes."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.batch.conftest import BatchApi, command_task
from tests.endpoint import RecordingEndpoint
from tests.support import CmqAccounts, RunningServer, wait_until

NODE_EVENTS = [
    "COMPUTE_NODE_CREATED",
    "COMPUTE_NODE_CREATION_FAILED",
    "COMPUTE_NODE_RUNNING",
    "COMPUTE_NODE_ABNORMAL",
    "COMPUTE_NODE_DELETING",
]


@pytest.fixture
def endpoint() -> Iterator[RecordingEndpoint]:
    with RecordingEndpoint() as recording:
        yield recording


def _topic_with_queue(account: Any, topic: str, queue: str, **subscription: Any) -> None:
    from cmq.queue import QueueMeta
    from cmq.subscription import SubscriptionMeta
    from cmq.topic import TopicMeta

    account.get_queue(queue).create(QueueMeta())
    account.get_topic(topic).create(TopicMeta())
    meta = SubscriptionMeta()
    meta.Protocal, meta.Endpoint, meta.NotifyContentFormat = "queue", queue, "SIMPLIFIED"
    for key, value in subscription.items():
        setattr(meta, key, value)
    account.get_subscription(topic, f"{queue}-sub").create(meta)


def _subscribe_http(account: Any, topic: str, url: str) -> None:
    from cmq.subscription import SubscriptionMeta

    meta = SubscriptionMeta()
    meta.Protocal, meta.Endpoint = "http", url
    account.get_subscription(topic, "http-sub").create(meta)


def drain(account: Any, queue: str, until: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Receive and delete until `until` messages have arrived, then until the queue stays empty
    for a second (so extras would show); answers the decoded events in arrival order."""
    from cmq.cmq_exception import CMQServerException

    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            messages = account.get_queue(queue).batch_receive_message(16, 1)
        except CMQServerException as error:
            if error.code != 7000:
                raise
            if len(received) >= until:
                return received
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"only {len(received)} of {until} events: {received}"
                ) from None
            continue
        for message in messages:
            envelope = json.loads(base64.b64decode(message.msgBody))
            assert len(envelope["Events"]) == 1
            received.append(envelope["Events"][0])
            account.get_queue(queue).delete_message(message.receiptHandle)


def test_the_founding_scenario(
    server: RunningServer,
    batch: BatchApi,
    cmq_accounts: CmqAccounts,
    endpoint: RecordingEndpoint,
) -> None:
    account = cmq_accounts(server.base_url)
    _topic_with_queue(account, "job-message", "batch-events")
    _subscribe_http(account, "job-message", endpoint.url)

    env_id = batch(
        "CreateComputeEnv",
        {
            "ComputeEnv": {
                "EnvName": "events-env",
                "DesiredComputeNodeCount": 1,
                "EnvData": {"InstanceType": "S5.SMALL1"},
                "Notifications": [
                    {
                        "TopicName": "job-message",
                        "EventConfigs": [
                            {"EventName": name}
                            for name in ["COMPUTE_ENV_CREATED", "COMPUTE_ENV_DELETED", *NODE_EVENTS]
                        ],
                    }
                ],
            },
            "Placement": {"Zone": "ap-guangzhou-2"},
        },
    )["EnvId"]
    events = drain(account, "batch-events", until=3)
    assert [e["EventName"] for e in events] == [
        "COMPUTE_ENV_CREATED",
        "COMPUTE_NODE_CREATED",
        "COMPUTE_NODE_RUNNING",
    ]
    created = events[0]
    assert created["Batch"]["EnvId"] == env_id
    assert created["Batch"]["DeleteTime"] is None
    assert created["Region"] == "ap-guangzhou"
    assert created["EventVersion"] == "1.0"
    node = events[2]["Batch"]
    assert node["ComputeNodeState"] == "RUNNING"
    assert node["EnvName"] == "events-env"
    assert [e["Sequence"] for e in events[1:]] == [1, 2]  # per node

    job_id = batch.submit(
        [
            command_task("hello", env_id, "echo hi", TaskInstanceNum=2),
            command_task("after", env_id, "exit 1"),
        ],
        JobName="events-job",
        Dependences=[{"StartTask": "hello", "EndTask": "after"}],
        Notifications=[
            {
                "TopicName": "job-message",
                "EventConfigs": [
                    {"EventName": "JOB_RUNNING"},
                    {"EventName": "JOB_FAILED", "EventVars": [{"Name": "owner", "Value": "a"}]},
                    {"EventName": "TaskSucceed"},
                    {"EventName": "TASK_FAILED"},
                    {"EventName": "TASK_INSTANCE_RUNNING"},
                    {"EventName": "TASK_INSTANCE_SUCCEED"},
                    {"EventName": "TASK_INSTANCE_FAILED"},
                ],
            }
        ],
    )
    assert batch.finished(job_id)["JobState"] == "FAILED"
    events = drain(account, "batch-events", until=10)
    assert Counter(e["EventName"] for e in events) == {
        "JOB_RUNNING": 1,
        "TASK_INSTANCE_RUNNING": 3,
        "TASK_INSTANCE_SUCCEED": 2,
        "TASK_SUCCEED": 1,
        "TASK_INSTANCE_FAILED": 1,
        "TASK_FAILED": 1,
        "JOB_FAILED": 1,
    }
    by_name = {e["EventName"]: e for e in events}
    assert by_name["JOB_FAILED"]["EventVars"] == [{"Name": "owner", "Value": "a"}]
    assert by_name["TASK_SUCCEED"]["EventVars"] == []
    failed = by_name["TASK_INSTANCE_FAILED"]["Batch"]
    assert (failed["TaskName"], failed["ExitCode"], failed["StateReason"]) == (
        "after",
        1,
        "EXIT_CODE_NON_ZERO",
    )
    sequences = [e["Sequence"] for e in events]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == len(sequences)
    assert len({e["EventId"] for e in events}) == len(events)

    batch("DeleteComputeEnv", {"EnvId": env_id})
    events = drain(account, "batch-events", until=2)
    assert [e["EventName"] for e in events] == ["COMPUTE_NODE_DELETING", "COMPUTE_ENV_DELETED"]
    assert events[1]["Batch"]["DeleteTime"] is not None

    # The HTTP endpoint got every event the queue got, pushed.
    wait_until(lambda: len(endpoint.received) == 15, timeout=20)
    pushed = [json.loads(r.body) for r in endpoint.received]
    decoded = [json.loads(base64.b64decode(p["msgBody"]))["Events"][0] for p in pushed]
    assert Counter(e["EventName"] for e in decoded)["TASK_INSTANCE_RUNNING"] == 3
