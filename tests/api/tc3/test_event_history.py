"""The event history extensions (DescribeEvents, ReplayEvents) through the official Batch SDK's
`call_json`, against the real server; the official CMQ SDK receives what is published.

Two tests run real Dask workers; the others use an environment of 0 nodes, whose jobs wait
until TerminateJob fails them (5 events, no worker needed).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

import httpx
import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
    TencentCloudSDKException,
)

from batchd.api.tc3.actions import EXTENSIONS, KNOWN
from batchd.api.tc3.models import EXTENSION_REQUESTS
from tests.batch.conftest import BatchApi, command_task
from tests.support import CmqAccounts, RunningServer

TERMINATED = ["TASK_INSTANCE_FAILED"] * 3 + ["TASK_FAILED", "JOB_FAILED"]


@pytest.fixture
def batch(server: RunningServer) -> BatchApi:
    return BatchApi(server)


@pytest.fixture
def account(server: RunningServer, cmq_accounts: CmqAccounts) -> Any:
    """The official CMQ SDK pointed at the server."""
    return cmq_accounts(server.base_url)


def call(batch: BatchApi, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """A batchd extension action through the SDK's generic `call_json`: its `Response`."""
    answer: dict[str, Any] = batch.client.call_json(action, params)["Response"]
    return answer


def refused(batch: BatchApi, action: str, params: dict[str, Any]) -> str:
    """The error code the action answers."""
    with pytest.raises(TencentCloudSDKException) as caught:
        batch.client.call_json(action, params)
    return str(caught.value.code)


def history(batch: BatchApi, owner_id: str) -> list[dict[str, Any]]:
    answer = call(batch, "DescribeEvents", {"OwnerId": owner_id, "Limit": 100})
    assert answer["TotalCount"] == len(answer["EventSet"])
    events: list[dict[str, Any]] = answer["EventSet"]
    return events


def until_history(batch: BatchApi, owner_id: str, last: str) -> list[dict[str, Any]]:
    """The history once its last event is named `last`."""
    deadline = time.monotonic() + 60
    while True:
        events = history(batch, owner_id)
        if events and events[-1]["EventName"] == last:
            return events
        assert time.monotonic() < deadline, f"{owner_id}: no {last} within 60 s: {events}"
        time.sleep(0.1)


def topic_with_queue(account: Any, topic: str, queue: str) -> None:
    from cmq.queue import QueueMeta

    account.get_queue(queue).create(QueueMeta())
    subscribed_topic(account, topic, queue)


def subscribed_topic(account: Any, topic: str, queue: str) -> None:
    """A topic whose subscription feeds `queue`."""
    from cmq.subscription import SubscriptionMeta
    from cmq.topic import TopicMeta

    account.get_topic(topic).create(TopicMeta())
    meta = SubscriptionMeta()
    meta.Protocal, meta.Endpoint, meta.NotifyContentFormat = "queue", queue, "SIMPLIFIED"
    account.get_subscription(topic, f"{queue}-sub").create(meta)


def delete_topic(account: Any, topic: str, queue: str) -> None:
    """Unsubscribe `queue` and delete the topic (the queue stays)."""
    account.get_subscription(topic, f"{queue}-sub").delete()
    account.get_topic(topic).delete()


def drain(account: Any, queue: str, until: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Receive and delete until `until` messages have arrived and the queue stays empty for a
    second; the decoded events in arrival order."""
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
            assert time.monotonic() < deadline, f"only {len(received)} of {until}: {received}"
            continue
        for message in messages:
            (event,) = json.loads(base64.b64decode(message.msgBody))["Events"]
            received.append(event)
            account.get_queue(queue).delete_message(message.receiptHandle)


def idle_env(batch: BatchApi, name: str = "idle-env", **env: Any) -> str:
    """An environment of 0 nodes: its jobs wait for a node."""
    answer = batch(
        "CreateComputeEnv",
        {
            "ComputeEnv": {
                "EnvName": name,
                "DesiredComputeNodeCount": 0,
                "EnvData": {"InstanceType": "S5.SMALL1"},
                **env,
            },
            "Placement": {"Zone": "ap-guangzhou-2"},
        },
    )
    return str(answer["EnvId"])


def waiting_job(batch: BatchApi, env_id: str, **job: Any) -> str:
    """A job of 3 instances on `env_id`, past SUBMITTED (so that it can be terminated)."""
    job_id = batch.submit([command_task("a", env_id, "echo hi", TaskInstanceNum=3)], **job)
    batch.until("DescribeJob", {"JobId": job_id}, lambda d: d["JobState"] != "SUBMITTED")
    return job_id


def terminated_job(batch: BatchApi, env_id: str, **job: Any) -> str:
    """A job failed by TerminateJob before any instance ran: the 5 events of TERMINATED."""
    job_id = waiting_job(batch, env_id, **job)
    batch("TerminateJob", {"JobId": job_id})
    assert batch.finished(job_id)["JobState"] == "FAILED"
    return job_id


def undeliverable_gauge(server: RunningServer) -> float:
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    (line,) = [x for x in text.splitlines() if x.startswith("batchd_events_undeliverable ")]
    return float(line.split()[1])


# --- real workers ------------------------------------------------------------------------------


def test_history_of_a_job_that_ran_outlives_the_job_and_the_env(
    server: RunningServer, batch: BatchApi, account: Any
) -> None:
    topic_with_queue(account, "history", "first")
    topic_with_queue(account, "again", "replayed")
    env_id = str(
        batch(
            "CreateComputeEnv",
            {
                "ComputeEnv": {
                    "EnvName": "history-env",
                    "DesiredComputeNodeCount": 1,
                    "EnvData": {"InstanceType": "S5.SMALL1"},
                    "Notifications": [
                        {
                            "TopicName": "history",
                            "EventConfigs": [{"EventName": "COMPUTE_ENV_DELETED"}],
                        }
                    ],
                },
                "Placement": {"Zone": "ap-guangzhou-2"},
            },
        )["EnvId"]
    )
    batch.until(
        "DescribeComputeEnv",
        {"EnvId": env_id},
        lambda d: [n["ComputeNodeState"] for n in d["ComputeNodeSet"]] == ["RUNNING"],
    )
    # Only some events go to a topic; every one is stored.
    job_id = batch.submit(
        [command_task("hello", env_id, "echo hi", TaskInstanceNum=2)],
        JobName="history-job",
        Notifications=[
            {
                "TopicName": "history",
                "EventConfigs": [
                    {"EventName": "JOB_SUCCEED", "EventVars": [{"Name": "k", "Value": "v"}]},
                    {"EventName": "TASK_INSTANCE_SUCCEED"},
                ],
            }
        ],
    )
    assert batch.finished(job_id)["JobState"] == "SUCCEED"

    events = history(batch, job_id)
    names = [e["EventName"] for e in events]
    assert sorted(names) == sorted(
        ["JOB_RUNNING", "TASK_RUNNING", "TASK_SUCCEED", "JOB_SUCCEED"]
        + ["TASK_INSTANCE_RUNNING", "TASK_INSTANCE_SUCCEED"] * 2
    )
    assert (names[0], names[-1]) == ("TASK_INSTANCE_RUNNING", "JOB_SUCCEED")
    assert [e["Sequence"] for e in events] == list(range(1, len(events) + 1))
    assert {e["ResourceId"] for e in events} == {job_id}
    assert all(e["Undeliverable"] is None for e in events)
    for e in events:
        event = e["Event"]
        assert (event["EventId"], event["EventName"], event["Sequence"]) == (
            e["EventId"],
            e["EventName"],
            e["Sequence"],
        )
        assert (event["EventTime"], event["EventVersion"]) == (e["EventTime"], "1.0")
        assert (event["Region"], event["EventVars"]) == ("ap-guangzhou", [])
        assert event["Batch"]["JobId"] == job_id

    # What the topic delivered is the stored event, EventVars of its config aside.
    delivered = drain(account, "first", until=3)
    by_id = {e["EventId"]: e["Event"] for e in events}
    assert sorted(d["EventName"] for d in delivered) == [
        "JOB_SUCCEED",
        "TASK_INSTANCE_SUCCEED",
        "TASK_INSTANCE_SUCCEED",
    ]
    for d in delivered:
        assert {**d, "EventVars": []} == by_id[d["EventId"]]

    # Paging, in SQL order.
    page = call(batch, "DescribeEvents", {"OwnerId": job_id, "Offset": 2, "Limit": 3})
    assert page["TotalCount"] == len(events)
    assert [e["EventId"] for e in page["EventSet"]] == [e["EventId"] for e in events[2:5]]

    batch("DeleteJob", {"JobId": job_id})
    assert history(batch, job_id) == events

    replayed = call(batch, "ReplayEvents", {"OwnerId": job_id, "TopicName": "again"})
    assert replayed["ReplayedCount"] == len(events)
    again = drain(account, "replayed", until=len(events))
    assert [e["EventId"] for e in again] == [e["EventId"] for e in events]
    assert [e["Sequence"] for e in again] == [e["Sequence"] for e in events]

    batch("DeleteComputeEnv", {"EnvId": env_id})
    env_events = until_history(batch, env_id, "COMPUTE_ENV_DELETED")
    assert [e["EventName"] for e in env_events] == [
        "COMPUTE_ENV_CREATED",
        "COMPUTE_NODE_CREATED",
        "COMPUTE_NODE_RUNNING",
        "COMPUTE_NODE_DELETING",
        "COMPUTE_ENV_DELETED",
    ]
    node_id = env_events[1]["ResourceId"]
    assert node_id.startswith("node-")
    assert [e["ResourceId"] for e in env_events] == [env_id, node_id, node_id, node_id, env_id]
    assert env_events[-1]["Event"]["Batch"]["DeleteTime"] is not None
    (deleted,) = drain(account, "first", until=1)
    assert deleted["EventId"] == env_events[-1]["EventId"]


def test_an_event_whose_topic_was_deleted_is_undeliverable_and_the_job_still_finishes(
    server: RunningServer, batch: BatchApi, account: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="batchd.control.notify")
    topic_with_queue(account, "fleeting", "fleeting-q")
    env_id = idle_env(batch)
    notify = [{"EventName": "JOB_RUNNING"}, {"EventName": "JOB_SUCCEED"}]
    job_id = waiting_job(
        batch, env_id, Notifications=[{"TopicName": "fleeting", "EventConfigs": notify}]
    )
    delete_topic(account, "fleeting", "fleeting-q")
    assert undeliverable_gauge(server) == 0

    batch("ModifyComputeEnv", {"EnvId": env_id, "DesiredComputeNodeCount": 1})
    assert batch.finished(job_id)["JobState"] == "SUCCEED"

    events = history(batch, job_id)
    marked = {e["EventName"]: e["Undeliverable"] for e in events if e["Undeliverable"]}
    assert set(marked) == {"JOB_RUNNING", "JOB_SUCCEED"}
    assert all("fleeting" in reason for reason in marked.values())
    assert undeliverable_gauge(server) == 2
    logged = [r for r in caplog.records if getattr(r, "event", "") == "event_undeliverable"]
    assert {r.getMessage().split()[1] for r in logged} == {"JOB_RUNNING", "JOB_SUCCEED"}

    # Replaying them once the topic is back delivers them.
    assert refused(batch, "ReplayEvents", {"OwnerId": job_id, "TopicName": "fleeting"}) == (
        "ResourceNotFound"
    )
    subscribed_topic(account, "fleeting", "fleeting-q")
    ids = [e["EventId"] for e in events if e["Undeliverable"]]
    answer = call(
        batch, "ReplayEvents", {"OwnerId": job_id, "TopicName": "fleeting", "EventIds": ids}
    )
    assert answer["ReplayedCount"] == 2
    assert sorted(e["EventId"] for e in drain(account, "fleeting-q", until=2)) == sorted(ids)


# --- no worker needed --------------------------------------------------------------------------


def test_paging_and_replay_of_named_events(
    server: RunningServer, batch: BatchApi, account: Any
) -> None:
    topic_with_queue(account, "replays", "replays-q")
    env_id = idle_env(batch)
    job_id = terminated_job(batch, env_id)
    events = history(batch, job_id)
    assert [e["EventName"] for e in events] == TERMINATED
    ids = [e["EventId"] for e in events]

    pages = [
        call(batch, "DescribeEvents", {"OwnerId": job_id, "Offset": offset, "Limit": 2})
        for offset in (0, 2, 4, 6)
    ]
    assert [p["TotalCount"] for p in pages] == [5] * 4
    assert [[e["EventId"] for e in p["EventSet"]] for p in pages] == [
        ids[0:2],
        ids[2:4],
        ids[4:5],
        [],
    ]
    default = call(batch, "DescribeEvents", {"OwnerId": job_id})
    assert [e["EventId"] for e in default["EventSet"]] == ids  # Limit 20 by default
    assert call(batch, "DescribeEvents", {"OwnerId": job_id, "Limit": 0})["EventSet"] == []
    by_get = call(BatchApi(server, "GET"), "DescribeEvents", {"OwnerId": job_id, "Offset": 3})
    assert [e["EventId"] for e in by_get["EventSet"]] == ids[3:]

    named = [ids[4], ids[0]]
    answer = call(  # a GET request: the list as EventIds.0, EventIds.1
        BatchApi(server, "GET"),
        "ReplayEvents",
        {"OwnerId": job_id, "TopicName": "replays", "EventIds": named},
    )
    assert answer["ReplayedCount"] == 2
    received = drain(account, "replays-q", until=2)
    assert [e["EventId"] for e in received] == [ids[0], ids[4]]  # in their order
    assert [e["EventName"] for e in received] == ["TASK_INSTANCE_FAILED", "JOB_FAILED"]

    # An id of another owner, or of no event, replays nothing.
    env_event = history(batch, env_id)[0]["EventId"]
    stranger = "00000000-0000-4000-8000-000000000000"
    for wrong in ([env_event], [ids[1], stranger]):
        params = {"OwnerId": job_id, "TopicName": "replays", "EventIds": wrong}
        assert refused(batch, "ReplayEvents", params) == "ResourceNotFound"
    params = {"OwnerId": job_id, "TopicName": "missing-topic"}
    assert refused(batch, "ReplayEvents", params) == "ResourceNotFound"
    assert drain(account, "replays-q", until=0, timeout=2) == []

    # The environment's history outlives it too.
    batch("DeleteJob", {"JobId": job_id})
    batch("DeleteComputeEnv", {"EnvId": env_id})
    env_events = until_history(batch, env_id, "COMPUTE_ENV_DELETED")
    assert [e["EventName"] for e in env_events] == ["COMPUTE_ENV_CREATED", "COMPUTE_ENV_DELETED"]
    assert [e["Event"]["Batch"]["EnvName"] for e in env_events] == ["idle-env"] * 2
    assert [e["EventId"] for e in history(batch, job_id)] == ids


def test_an_existing_owner_without_events_has_an_empty_history(batch: BatchApi) -> None:
    env_id = idle_env(batch)
    job_id = waiting_job(batch, env_id)
    assert call(batch, "DescribeEvents", {"OwnerId": job_id}) | {"RequestId": ""} == {
        "TotalCount": 0,
        "EventSet": [],
        "RequestId": "",
    }
    params = {"OwnerId": job_id, "TopicName": "some-topic"}
    assert refused(batch, "ReplayEvents", params) == "ResourceNotFound"


BAD_REQUESTS: list[tuple[str, dict[str, Any], str]] = [
    ("DescribeEvents", {"OwnerId": "job-zzzzzzzz"}, "ResourceNotFound"),
    ("DescribeEvents", {"OwnerId": "env-zzzzzzzz"}, "ResourceNotFound"),
    ("DescribeEvents", {"OwnerId": "node-zzzzzzzz"}, "InvalidParameterValue"),
    ("DescribeEvents", {}, "MissingParameter"),
    ("DescribeEvents", {"OwnerId": "job-zzzzzzzz", "Limit": 101}, "InvalidParameterValue"),
    ("DescribeEvents", {"OwnerId": "job-zzzzzzzz", "Offset": -1}, "InvalidParameterValue"),
    ("DescribeEvents", {"OwnerId": "job-zzzzzzzz", "Next": 1}, "UnknownParameter"),
    ("ReplayEvents", {"OwnerId": "job-zzzzzzzz", "TopicName": "t"}, "ResourceNotFound"),
    (
        "ReplayEvents",
        {"OwnerId": "job-zzzzzzzz", "TopicName": "9t"},
        "InvalidParameter.NotificationTopicName",
    ),
    (
        "ReplayEvents",
        {"OwnerId": "job-zzzzzzzz", "TopicName": "t" * 65},
        "InvalidParameter.NotificationTopicNameTooLong",
    ),
    ("ReplayEvents", {"OwnerId": "job-zzzzzzzz"}, "MissingParameter"),
    (
        "ReplayEvents",
        {"OwnerId": "job-zzzzzzzz", "TopicName": "t", "EventIds": []},
        "InvalidParameterValue",
    ),
    (
        "ReplayEvents",
        {"OwnerId": "job-zzzzzzzz", "TopicName": "t", "EventIds": ["not-an-id"]},
        "InvalidParameterValue",
    ),
]


def test_the_extensions_are_not_actions_of_the_api() -> None:
    assert set(EXTENSION_REQUESTS) == EXTENSIONS
    assert not EXTENSIONS & KNOWN


def test_bad_requests_answer_their_code(batch: BatchApi) -> None:
    answered = [
        (action, params, refused(batch, action, params)) for action, params, _ in BAD_REQUESTS
    ]
    assert answered == BAD_REQUESTS
