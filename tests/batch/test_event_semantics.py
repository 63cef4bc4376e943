"""Which transitions fire which events (events.md §1), seen as CMQ messages: retries, interrupted
tasks, termination, lost and removed nodes, anonymous environments, filtering and encoding."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from tests.batch.conftest import BatchApi, command_task, shared_file
from tests.batch.test_notifications import NODE_EVENTS, _topic_with_queue, drain
from tests.support import CmqAccounts, RunningServer, server_in_thread, wait_until

JOB_AND_TASK_EVENTS = [
    "JOB_RUNNING",
    "JOB_SUCCEED",
    "JOB_FAILED",
    "JOB_FAILED_INTERRUPTED",
    "TASK_RUNNING",
    "TASK_SUCCEED",
    "TASK_FAILED",
    "TASK_FAILED_INTERRUPTED",
    "TASK_INSTANCE_RUNNING",
    "TASK_INSTANCE_SUCCEED",
    "TASK_INSTANCE_FAILED",
    "TASK_INSTANCE_FAILED_INTERRUPTED",
]


def _everything(topic: str, names: list[str]) -> list[dict[str, Any]]:
    return [{"TopicName": topic, "EventConfigs": [{"EventName": name} for name in names]}]


def _names(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e["EventName"] for e in events)


def _account(server: RunningServer, cmq_accounts: CmqAccounts) -> Any:
    account = cmq_accounts(server.base_url)
    _topic_with_queue(account, "events", "inbox")
    return account


def test_a_retried_instance_fires_running_per_attempt_and_one_failure(
    server: RunningServer, batch: BatchApi, cmq_accounts: CmqAccounts
) -> None:
    """TASK_INSTANCE_FAILED only after the last attempt; RUNNING carries each attempt."""
    account = _account(server, cmq_accounts)
    env_id = batch.env(nodes=1)
    job_id = batch.submit(
        [command_task("flaky", env_id, "exit 3", MaxRetryCount=2)],
        Notifications=_everything("events", JOB_AND_TASK_EVENTS),
    )
    assert batch.finished(job_id)["JobState"] == "FAILED"
    events = drain(account, "inbox", until=7)
    assert _names(events) == {
        "JOB_RUNNING": 1,
        "TASK_RUNNING": 1,
        "TASK_INSTANCE_RUNNING": 3,
        "TASK_INSTANCE_FAILED": 1,
        "TASK_FAILED": 1,
        "JOB_FAILED": 1,
    }
    attempts = [e["Batch"]["Attempt"] for e in events if e["EventName"] == "TASK_INSTANCE_RUNNING"]
    assert attempts == [1, 2, 3]
    (failed,) = [e["Batch"] for e in events if e["EventName"] == "TASK_INSTANCE_FAILED"]
    assert failed["Attempt"] == 3
    assert failed["ExitCode"] == 3
    # Instance first, then its task, then the job (events.md §1).
    assert [e["EventName"] for e in events][-3:] == [
        "TASK_INSTANCE_FAILED",
        "TASK_FAILED",
        "JOB_FAILED",
    ]


def test_interrupt_keeps_the_instance_and_terminate_ends_it(
    server: RunningServer, batch: BatchApi, cmq_accounts: CmqAccounts
) -> None:
    """FailedAction INTERRUPT fires the *_FAILED_INTERRUPTED events; TerminateJob then fires the
    final failures of the retained instance, its task and the job."""
    account = _account(server, cmq_accounts)
    env_id = batch.env(nodes=1)
    job_id = batch.submit(
        [command_task("fragile", env_id, "exit 1", FailedAction="INTERRUPT")],
        Notifications=_everything("events", JOB_AND_TASK_EVENTS),
    )
    batch.until("DescribeJob", {"JobId": job_id}, lambda d: d["JobState"] == "FAILED_INTERRUPTED")
    events = drain(account, "inbox", until=6)
    # RUNNING events come first even when the attempt's start and end land in one step.
    assert [e["EventName"] for e in events] == [
        "TASK_INSTANCE_RUNNING",
        "TASK_RUNNING",
        "JOB_RUNNING",
        "TASK_INSTANCE_FAILED_INTERRUPTED",
        "TASK_FAILED_INTERRUPTED",
        "JOB_FAILED_INTERRUPTED",
    ]
    batch("TerminateJob", {"JobId": job_id})
    assert batch.finished(job_id)["JobState"] == "FAILED"
    events = drain(account, "inbox", until=3)
    assert [e["EventName"] for e in events] == [
        "TASK_INSTANCE_FAILED",
        "TASK_FAILED",
        "JOB_FAILED",
    ]


def test_terminate_job_fires_failures_caused_by_the_user(
    server: RunningServer, batch: BatchApi, cmq_accounts: CmqAccounts
) -> None:
    account = _account(server, cmq_accounts)
    env_id = batch.env(nodes=1)
    job_id = batch.submit(
        [command_task("sleepy", env_id, "sleep 300", TaskInstanceNum=2)],
        Notifications=_everything("events", JOB_AND_TASK_EVENTS),
    )
    batch.until("DescribeJob", {"JobId": job_id}, lambda d: d["JobState"] == "RUNNING")
    batch("TerminateJob", {"JobId": job_id})
    assert batch.finished(job_id, timeout=30)["JobState"] == "FAILED"
    events = drain(account, "inbox", until=6)
    names = _names(events)
    assert names["TASK_INSTANCE_FAILED"] == 2
    # One node: the second instance may be launched in the moment before its own kill arrives.
    assert names["TASK_INSTANCE_RUNNING"] in (1, 2)
    assert (names["TASK_FAILED"], names["JOB_FAILED"], names["JOB_RUNNING"]) == (1, 1, 1)
    reasons = {
        e["Batch"]["StateReason"] for e in events if e["EventName"] == "TASK_INSTANCE_FAILED"
    }
    assert reasons == {"TERMINATED_BY_USER"}


def test_a_killed_worker_makes_its_node_abnormal(
    server: RunningServer, batch: BatchApi, cmq_accounts: CmqAccounts, shared_dir: Path
) -> None:
    """A worker process killed mid-task: COMPUTE_NODE_ABNORMAL from real Dask membership, then
    RUNNING again when the node's worker is back."""
    account = _account(server, cmq_accounts)
    env_id = batch(
        "CreateComputeEnv",
        {
            "ComputeEnv": {
                "EnvName": "watched",
                "DesiredComputeNodeCount": 1,
                "EnvData": {"InstanceType": "S5.SMALL1"},
                "Notifications": _everything("events", NODE_EVENTS),
            },
            "Placement": {"Zone": "ap-guangzhou-2"},
        },
    )["EnvId"]
    assert [e["EventName"] for e in drain(account, "inbox", until=2)] == [
        "COMPUTE_NODE_CREATED",
        "COMPUTE_NODE_RUNNING",
    ]
    pid_file = shared_file(shared_dir, "worker.pid")
    job_id = batch.submit([command_task("victim", env_id, f"echo $PPID > {pid_file}; sleep 120")])
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() != "", timeout=60)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert batch.finished(job_id, timeout=60)["JobState"] == "FAILED"
    events = drain(account, "inbox", until=1)
    assert events[0]["EventName"] == "COMPUTE_NODE_ABNORMAL"
    assert events[0]["Batch"]["ComputeNodeState"] == "ABNORMAL"
    assert events[0]["Batch"]["StateReason"] != ""


def test_scale_down_fires_deleting(
    server: RunningServer, batch: BatchApi, cmq_accounts: CmqAccounts
) -> None:
    account = _account(server, cmq_accounts)
    env_id = batch(
        "CreateComputeEnv",
        {
            "ComputeEnv": {
                "EnvName": "shrinking",
                "DesiredComputeNodeCount": 2,
                "EnvData": {"InstanceType": "S5.SMALL1"},
                "Notifications": _everything("events", ["COMPUTE_NODE_DELETING"]),
            },
            "Placement": {"Zone": "ap-guangzhou-2"},
        },
    )["EnvId"]
    batch.until(
        "DescribeComputeEnv",
        {"EnvId": env_id},
        lambda d: [n["ComputeNodeState"] for n in d["ComputeNodeSet"]] == ["RUNNING"] * 2,
    )
    batch("ModifyComputeEnv", {"EnvId": env_id, "DesiredComputeNodeCount": 1})
    (deleting,) = drain(account, "inbox", until=1)
    assert deleting["EventName"] == "COMPUTE_NODE_DELETING"
    assert deleting["Batch"]["EnvId"] == env_id


def test_node_events_of_an_anonymous_environment_go_to_the_job(
    server: RunningServer, batch: BatchApi, cmq_accounts: CmqAccounts
) -> None:
    account = _account(server, cmq_accounts)
    task = {
        "TaskName": "own-env",
        "ComputeEnv": {"EnvType": "MANAGED", "EnvData": {"InstanceType": "S5.SMALL1"}},
        "Application": {"DeliveryForm": "LOCAL", "Command": "true"},
    }
    job_id = batch.submit(
        [task],
        Notifications=_everything(
            "events", ["COMPUTE_NODE_CREATED", "COMPUTE_NODE_RUNNING", "COMPUTE_NODE_DELETING"]
        ),
    )
    assert batch.finished(job_id, timeout=90)["JobState"] == "SUCCEED"
    events = drain(account, "inbox", until=3, timeout=60)
    assert [e["EventName"] for e in events] == [
        "COMPUTE_NODE_CREATED",
        "COMPUTE_NODE_RUNNING",
        "COMPUTE_NODE_DELETING",
    ]
    for event in events:
        assert event["Batch"]["JobId"] == job_id
        assert event["Batch"]["TaskName"] == "own-env"
        assert event["Batch"]["EnvName"] == ""


def test_subscriptions_filter_events_by_group_and_state(
    server: RunningServer, batch: BatchApi, cmq_accounts: CmqAccounts
) -> None:
    """Tags carry the event group and routing keys `batch.<group>.<state>` (events.md §4)."""
    from cmq.queue import QueueMeta
    from cmq.subscription import SubscriptionMeta
    from cmq.topic import TopicMeta

    account = cmq_accounts(server.base_url)
    for queue in ("jobs-only", "instance-failures"):
        account.get_queue(queue).create(QueueMeta())
    by_tag = TopicMeta()
    account.get_topic("tagged").create(by_tag)
    meta = SubscriptionMeta()
    meta.Protocal, meta.Endpoint, meta.NotifyContentFormat = "queue", "jobs-only", "SIMPLIFIED"
    meta.FilterTag = ["job"]
    account.get_subscription("tagged", "jobs").create(meta)
    by_key = TopicMeta()
    by_key.filterType = 2
    account.get_topic("keyed").create(by_key)
    meta = SubscriptionMeta()
    meta.Protocal, meta.Endpoint = "queue", "instance-failures"
    meta.NotifyContentFormat = "SIMPLIFIED"
    meta.bindingKey = ["batch.instance.failed", "batch.instance.failed_interrupted"]
    account.get_subscription("keyed", "failures").create(meta)

    env_id = batch.env(nodes=1)
    job_id = batch.submit(
        [command_task("bad", env_id, "exit 2")],
        Notifications=[
            *_everything("tagged", JOB_AND_TASK_EVENTS),
            *_everything("keyed", JOB_AND_TASK_EVENTS),
        ],
    )
    assert batch.finished(job_id)["JobState"] == "FAILED"
    assert [e["EventName"] for e in drain(account, "jobs-only", until=2)] == [
        "JOB_RUNNING",
        "JOB_FAILED",
    ]
    assert [e["EventName"] for e in drain(account, "instance-failures", until=1)] == [
        "TASK_INSTANCE_FAILED"
    ]


def test_event_bodies_can_be_raw_json(
    database_url: str, tmp_path: Path, cmq_accounts: CmqAccounts
) -> None:
    """The `event_body_encoding = json` setting publishes the envelope without Base64."""
    with server_in_thread(tmp_path / "data", database_url, event_body_encoding="json") as server:
        account = cmq_accounts(server.base_url)
        _topic_with_queue(account, "events", "inbox")
        batch = BatchApi(server)
        batch(
            "CreateComputeEnv",
            {
                "ComputeEnv": {
                    "EnvName": "plain",
                    "DesiredComputeNodeCount": 0,
                    "EnvData": {"InstanceType": "S5.SMALL1"},
                    "Notifications": _everything("events", ["COMPUTE_ENV_CREATED"]),
                },
                "Placement": {"Zone": "ap-guangzhou-2"},
            },
        )
        message = account.get_queue("inbox").receive_message(polling_wait_seconds=10)
        (event,) = json.loads(message.msgBody)["Events"]
        assert event["EventName"] == "COMPUTE_ENV_CREATED"
