"""Compute nodes that cannot start: CREATION_FAILED, replacement per ResourceMaxRetryCount
(ActionIfComputeNodeInactive=RECREATE), and what a task's own environment does with its waiting
instances then (StateIfCreateCvmFailed). The lever is the node start timeout: at 1 ms no real
Dask worker process can start, so every node creation fails for real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchd import settings as settings_module
from tests.batch.conftest import BatchApi
from tests.batch.test_notifications import NODE_EVENTS, _topic_with_queue, drain
from tests.support import CmqAccounts, RunningServer, server_in_thread

INSTANCE_EVENTS = ["TASK_INSTANCE_RUNNING", "TASK_INSTANCE_FAILED", "TASK_FAILED", "JOB_FAILED"]


@pytest.fixture
def failing_server(database_url: str, tmp_path: Path) -> Iterator[RunningServer]:
    """A server whose nodes can never start: the start timeout is far below a worker's start.
    Replacements wait 1.2 s instead of the cloud's 600 s."""
    with server_in_thread(
        tmp_path / "data", database_url, node_start_timeout=0.001, node_recreate_wait_scale=0.002
    ) as running:
        yield running


@pytest.fixture
def failing_batch(failing_server: RunningServer) -> BatchApi:
    return BatchApi(failing_server)


def _inbox(server: RunningServer, cmq_accounts: CmqAccounts) -> Any:
    account = cmq_accounts(server.base_url)
    _topic_with_queue(account, "events", "inbox")
    return account


def _notify(names: list[str]) -> list[dict[str, Any]]:
    return [{"TopicName": "events", "EventConfigs": [{"EventName": name} for name in names]}]


def _own_env_task(**fields: Any) -> dict[str, Any]:
    return {
        "TaskName": "own",
        "ComputeEnv": {"EnvType": "MANAGED", "EnvData": {"InstanceType": "S5.SMALL1"}},
        "Application": {"DeliveryForm": "LOCAL", "Command": "true"},
        **fields,
    }


def test_a_node_that_cannot_start_is_replaced_until_the_retries_are_used(
    failing_server: RunningServer, failing_batch: BatchApi, cmq_accounts: CmqAccounts
) -> None:
    account = _inbox(failing_server, cmq_accounts)
    env_id = failing_batch(
        "CreateComputeEnv",
        {
            "ComputeEnv": {
                "EnvName": "doomed",
                "DesiredComputeNodeCount": 1,
                "EnvData": {"InstanceType": "S5.SMALL1"},
                "ActionIfComputeNodeInactive": "RECREATE",
                "ResourceMaxRetryCount": 2,
                "Notifications": _notify(NODE_EVENTS),
            },
            "Placement": {"Zone": "ap-guangzhou-2"},
        },
    )["EnvId"]
    events = drain(account, "inbox", until=5)
    assert [(e["EventName"], e["Batch"]["ComputeNodeState"]) for e in events] == [
        ("COMPUTE_NODE_CREATION_FAILED", "CREATION_FAILED"),
        ("COMPUTE_NODE_DELETING", "DELETING"),  # the failed node makes room for a new one
        ("COMPUTE_NODE_CREATION_FAILED", "CREATION_FAILED"),
        ("COMPUTE_NODE_DELETING", "DELETING"),
        ("COMPUTE_NODE_CREATION_FAILED", "CREATION_FAILED"),  # two replacements used: kept
    ]
    failed = [e["Batch"] for e in events if e["EventName"] == "COMPUTE_NODE_CREATION_FAILED"]
    assert len({b["ComputeNodeId"] for b in failed}) == 3
    assert [e["Batch"]["ComputeNodeId"] for e in events[1:4:2]] == [
        failed[0]["ComputeNodeId"],
        failed[1]["ComputeNodeId"],
    ]
    for body in failed:
        assert body["EnvId"] == env_id
        assert body["ResourceCreatedTime"] is None
        assert "node-start-timeout" in body["StateReason"]  # what to do about it

    env = failing_batch("DescribeComputeEnv", {"EnvId": env_id})
    assert [(n["ComputeNodeId"], n["ComputeNodeState"]) for n in env["ComputeNodeSet"]] == [
        (failed[2]["ComputeNodeId"], "CREATION_FAILED")
    ]
    assert env["ComputeNodeMetrics"]["CreationFailedCount"] == 1
    activities = failing_batch("DescribeComputeEnvActivities", {"EnvId": env_id})["ActivitySet"]
    creations = [a for a in activities if a["ComputeNodeActivityType"] == "CREATE_COMPUTE_NODE"]
    assert [a["ActivityState"] for a in creations] == ["FAILED"] * 3
    assert "replaced by a new node in 1.2 s" in creations[0]["StateReason"]
    assert "allows no more replacements" in creations[2]["StateReason"]

    # The kept node can be terminated; it had no worker, so it is gone at once.
    failing_batch(
        "TerminateComputeNode", {"EnvId": env_id, "ComputeNodeId": failed[2]["ComputeNodeId"]}
    )
    (deleting,) = drain(account, "inbox", until=1)
    assert deleting["EventName"] == "COMPUTE_NODE_DELETING"
    assert failing_batch("DescribeComputeEnv", {"EnvId": env_id})["ComputeNodeSet"] == []


def test_state_if_create_failed_failed_fails_the_waiting_instance(
    failing_server: RunningServer, failing_batch: BatchApi, cmq_accounts: CmqAccounts
) -> None:
    """Default FAILED: the attempt waiting for the node fails with COMPUTE_NODE_CREATION_FAILED;
    its retry waits for the replacement node, and when none is left the instance fails."""
    account = _inbox(failing_server, cmq_accounts)
    job_id = failing_batch.submit(
        [_own_env_task(MaxRetryCount=1, ResourceMaxRetryCount=1)],
        Notifications=_notify([*NODE_EVENTS, *INSTANCE_EVENTS]),
    )
    job = failing_batch.finished(job_id)
    assert job["JobState"] == "FAILED"
    events = drain(account, "inbox", until=7)
    assert [e["EventName"] for e in events] == [
        "COMPUTE_NODE_CREATION_FAILED",
        "COMPUTE_NODE_DELETING",  # replaced: Task.ResourceMaxRetryCount 1
        "COMPUTE_NODE_CREATION_FAILED",
        "TASK_INSTANCE_FAILED",
        "TASK_FAILED",
        "JOB_FAILED",
        "COMPUTE_NODE_DELETING",  # the task's environment is torn down
    ]
    instance = events[3]["Batch"]
    assert instance["StateReason"] == "COMPUTE_NODE_CREATION_FAILED"
    assert instance["ComputeNodeId"] == ""
    for event in events:
        if event["EventName"].startswith("COMPUTE_NODE"):
            assert event["Batch"]["JobId"] == job_id
    task = failing_batch("DescribeTask", {"JobId": job_id, "TaskName": "own"})
    (view,) = task["TaskInstanceSet"]
    assert view["TaskInstanceState"] == "FAILED"
    assert view["StateReason"] == "COMPUTE_NODE_CREATION_FAILED"


def test_state_if_create_failed_runnable_keeps_the_instance_waiting(
    failing_server: RunningServer, failing_batch: BatchApi, cmq_accounts: CmqAccounts
) -> None:
    """RUNNABLE: the instance goes back to RUNNABLE and says why it waits; a replacement node is
    requested per Task.ResourceMaxRetryCount; TerminateJob ends the wait."""
    account = _inbox(failing_server, cmq_accounts)
    job_id = failing_batch.submit(
        [_own_env_task(ResourceMaxRetryCount=1)],
        StateIfCreateCvmFailed="RUNNABLE",
        Notifications=_notify([*NODE_EVENTS, *INSTANCE_EVENTS]),
    )
    assert [e["EventName"] for e in drain(account, "inbox", until=3)] == [
        "COMPUTE_NODE_CREATION_FAILED",
        "COMPUTE_NODE_DELETING",
        "COMPUTE_NODE_CREATION_FAILED",
    ]
    task = failing_batch.until(
        "DescribeTask",
        {"JobId": job_id, "TaskName": "own"},
        lambda d: "no more replacements" in d["TaskInstanceSet"][0]["StateDetailedReason"],
    )
    (view,) = task["TaskInstanceSet"]
    assert view["TaskInstanceState"] == "RUNNABLE"
    assert view["StateReason"] == "COMPUTE_NODE_CREATION_FAILED"
    assert view["LaunchTime"] is None  # the attempt that never ran costs nothing
    assert failing_batch("DescribeJob", {"JobId": job_id})["JobState"] == "RUNNABLE"

    failing_batch("TerminateJob", {"JobId": job_id})
    assert failing_batch.finished(job_id)["JobState"] == "FAILED"
    events = drain(account, "inbox", until=4)
    assert [e["EventName"] for e in events] == [
        "TASK_INSTANCE_FAILED",
        "TASK_FAILED",
        "JOB_FAILED",
        "COMPUTE_NODE_DELETING",
    ]
    assert events[0]["Batch"]["StateReason"] == "TERMINATED_BY_USER"


def test_a_replacement_waits_before_it_is_created(database_url: str, tmp_path: Path) -> None:
    # The cloud's wait before the first replacement: 600 s, far longer than this test.
    with server_in_thread(tmp_path / "data", database_url, node_start_timeout=0.001) as server:
        batch = BatchApi(server)
        env_id = batch(
            "CreateComputeEnv",
            {
                "ComputeEnv": {
                    "EnvName": "patient",
                    "DesiredComputeNodeCount": 1,
                    "EnvData": {"InstanceType": "S5.SMALL1"},
                    "ResourceMaxRetryCount": 1,
                },
                "Placement": {"Zone": "ap-guangzhou-2"},
            },
        )["EnvId"]
        activities = batch.until(
            "DescribeComputeEnvActivities",
            {"EnvId": env_id},
            lambda d: any(a["ActivityState"] == "FAILED" for a in d["ActivitySet"]),
        )["ActivitySet"]
        creations = [a for a in activities if a["ComputeNodeActivityType"] == "CREATE_COMPUTE_NODE"]
        (failed,) = creations  # the replacement has not been created
        assert "replaced by a new node in 600 s" in failed["StateReason"]
        nodes = batch("DescribeComputeEnv", {"EnvId": env_id})["ComputeNodeSet"]
        assert [n["ComputeNodeState"] for n in nodes] == ["SUBMITTED"]
        assert nodes[0]["ComputeNodeId"] != failed["ComputeNodeId"]


def test_the_node_start_timeout_is_a_setting(tmp_path: Path) -> None:
    flags: dict[str, object | None] = {
        "data_dir": tmp_path,
        "secret_id": "AKIDx",
        "secret_key": "k",
    }
    environ = {"BATCHD_NODE_START_TIMEOUT": "2.5"}
    assert settings_module.load(flags, environ).node_start_timeout == 2.5
    assert settings_module.load({**flags, "node_start_timeout": 9}, environ).node_start_timeout == 9
    assert settings_module.load(flags, {}).node_start_timeout == 60
    with pytest.raises(settings_module.SettingsError, match="BATCHD_NODE_START_TIMEOUT"):
        settings_module.load(flags, {"BATCHD_NODE_START_TIMEOUT": "0"})
    scale = {"BATCHD_NODE_RECREATE_WAIT_SCALE": "0.1"}
    assert settings_module.load(flags, scale).node_recreate_wait_scale == 0.1
    assert settings_module.load(flags, {}).node_recreate_wait_scale == 1
    with pytest.raises(settings_module.SettingsError, match="BATCHD_NODE_RECREATE_WAIT_SCALE"):
        settings_module.load(flags, {"BATCHD_NODE_RECREATE_WAIT_SCALE": "-1"})


def test_nodes_keep_their_files_in_the_data_dir(batch: BatchApi, server: RunningServer) -> None:
    batch.env(nodes=1)

    # Dask's default is a scratch space shared by every process of the machine, in /tmp.
    scratch = server.data_dir / "dask" / "dask-scratch-space"
    worker_dirs = [path for path in scratch.glob("worker-*") if path.is_dir()]
    assert len(worker_dirs) == 1  # the one node's
