"""AttachInstances / DetachInstances with real external Dask workers (`dask worker` processes on
loopback) through the official Batch SDK: placement, node events, detaching, error codes."""

from __future__ import annotations

from typing import Any

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from tests.batch.conftest import BatchApi, ExternalWorker, command_task


def call(batch: BatchApi, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """The raw answer (`Response`): the SDK's models drop batchd's extra fields."""
    answer: dict[str, Any] = batch.client.call_json(action, params)["Response"]
    return answer


def refused(batch: BatchApi, action: str, params: dict[str, Any]) -> str:
    with pytest.raises(TencentCloudSDKException) as caught:
        batch(action, params)
    return str(caught.value.code)


def nodes(batch: BatchApi, env_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = batch("DescribeComputeEnv", {"EnvId": env_id})["ComputeNodeSet"]
    return found


def attached_node(batch: BatchApi, env_id: str, instance_id: str) -> dict[str, Any]:
    """The node of an attached instance, once RUNNING."""
    answer = batch.until(
        "DescribeComputeEnv",
        {"EnvId": env_id},
        lambda d: any(
            n["ComputeNodeInstanceId"] == instance_id and n["ComputeNodeState"] == "RUNNING"
            for n in d["ComputeNodeSet"]
        ),
    )
    return next(n for n in answer["ComputeNodeSet"] if n["ComputeNodeInstanceId"] == instance_id)


def node_events(batch: BatchApi, env_id: str, node_id: str) -> list[dict[str, Any]]:
    answer = call(batch, "DescribeEvents", {"OwnerId": env_id, "Limit": 100})
    return [
        e["Event"]
        for e in answer["EventSet"]
        if e["Event"]["Batch"].get("ComputeNodeId") == node_id
    ]


def stdout_of(batch: BatchApi, job_id: str, task_name: str) -> list[str]:
    import base64

    logs = batch("DescribeTaskLogs", {"JobId": job_id, "TaskName": task_name, "Limit": 10})
    texts = []
    for entry in logs["TaskInstanceLogSet"]:
        data = entry["StdoutLog"].split("base64,", 1)[1]
        texts.append(base64.b64decode(data).decode().strip())
    return texts


def test_attached_worker_runs_work_and_detaches(
    batch: BatchApi, external_worker: ExternalWorker
) -> None:
    env_id = batch.env(nodes=0, name="attach-env")
    address = call(batch, "DescribeComputeEnv", {"EnvId": env_id})["SchedulerAddress"]
    assert address.startswith("tcp://127.0.0.1:")
    box = external_worker(address, "box-a")
    idle = external_worker(address, "idle-b")  # connected, never attached: gets no work

    batch("AttachInstances", {"EnvId": env_id, "Instances": [{"InstanceId": "box-a"}]})
    node = attached_node(batch, env_id, "box-a")
    assert node["ResourceOrigin"] == "USER_ATTACHED"
    assert node["ComputeNodeId"].startswith("node-")
    described = batch("DescribeComputeEnv", {"EnvId": env_id})
    assert described["AttachedComputeNodeCount"] == 1
    assert described["DesiredComputeNodeCount"] == 0  # attached nodes are not counted
    again = {"EnvId": env_id, "Instances": [{"InstanceId": "box-a"}]}
    assert (
        refused(batch, "AttachInstances", again) == "UnsupportedOperation.InstancesNotAllowToAttach"
    )

    # Three instances, two connected workers: every one runs on the attached node.
    job_id = batch.submit(
        [command_task("where", env_id, "echo $BATCH_COMPUTE_NODE_ID", TaskInstanceNum=3)]
    )
    assert batch.finished(job_id)["JobState"] == "SUCCEED"
    assert stdout_of(batch, job_id, "where") == [node["ComputeNodeId"]] * 3

    # A running attempt fails when its node is detached; the worker process keeps running.
    job_id = batch.submit([command_task("long", env_id, "sleep 60")])
    running_on(batch, job_id, "long", "box-a")
    batch("DetachInstances", {"EnvId": env_id, "InstanceIds": ["box-a"]})
    batch.until("DescribeComputeEnv", {"EnvId": env_id}, lambda d: not d["ComputeNodeSet"])
    assert batch.finished(job_id)["JobState"] == "FAILED"
    task = batch("DescribeTask", {"JobId": job_id, "TaskName": "long"})
    assert task["TaskInstanceSet"][0]["StateReason"] == "COMPUTE_NODE_TERMINATED"
    assert box.poll() is None

    events = node_events(batch, env_id, node["ComputeNodeId"])
    assert [e["EventName"] for e in events] == [
        "COMPUTE_NODE_CREATED",
        "COMPUTE_NODE_RUNNING",
        "COMPUTE_NODE_DELETING",
    ]
    assert {e["Batch"]["ResourceOrigin"] for e in events} == {"USER_ATTACHED"}
    assert {e["Batch"]["ComputeNodeInstanceId"] for e in events} == {"box-a"}

    # Attached again it is a new node. An attempt its detaching fails is retried per
    # MaxRetryCount, on the node attached next.
    batch("AttachInstances", {"EnvId": env_id, "Instances": [{"InstanceId": "box-a"}]})
    second = attached_node(batch, env_id, "box-a")
    assert second["ComputeNodeId"] != node["ComputeNodeId"]
    command = (
        'if [ "$BATCH_TASK_INSTANCE_ATTEMPT" = 1 ]; then sleep 60; fi; '
        "echo $BATCH_COMPUTE_NODE_ID $BATCH_TASK_INSTANCE_ATTEMPT"
    )
    job_id = batch.submit([command_task("retried", env_id, command, MaxRetryCount=1)])
    running_on(batch, job_id, "retried", "box-a")
    batch("DetachInstances", {"EnvId": env_id, "InstanceIds": ["box-a"]})
    batch.until("DescribeComputeEnv", {"EnvId": env_id}, lambda d: not d["ComputeNodeSet"])
    batch("AttachInstances", {"EnvId": env_id, "Instances": [{"InstanceId": "box-a"}]})
    third = attached_node(batch, env_id, "box-a")
    assert batch.finished(job_id)["JobState"] == "SUCCEED"
    assert stdout_of(batch, job_id, "retried") == [f"{third['ComputeNodeId']} 2"]
    assert idle.poll() is None  # an unattached worker is not stopped either
    assert [n["ComputeNodeId"] for n in nodes(batch, env_id)] == [third["ComputeNodeId"]]


def running_on(batch: BatchApi, job_id: str, task_name: str, instance_id: str) -> None:
    """Wait until the task's first instance runs on the node of `instance_id`."""
    batch.until(
        "DescribeTask",
        {"JobId": job_id, "TaskName": task_name},
        lambda d: (
            d["TaskInstanceSet"][0]["TaskInstanceState"] == "RUNNING"
            and d["TaskInstanceSet"][0]["ComputeNodeInstanceId"] == instance_id
        ),
    )


def test_attach_and_detach_errors(batch: BatchApi, external_worker: ExternalWorker) -> None:
    env_id = batch.env(nodes=1, name="errors-env")
    (own,) = nodes(batch, env_id)
    address = call(batch, "DescribeComputeEnv", {"EnvId": env_id})["SchedulerAddress"]
    external_worker(address, "spare")

    def attach(*names: str) -> str:
        instances = [{"InstanceId": name} for name in names]
        return refused(batch, "AttachInstances", {"EnvId": env_id, "Instances": instances})

    def detach(*names: str) -> str:
        return refused(batch, "DetachInstances", {"EnvId": env_id, "InstanceIds": list(names)})

    not_allowed = "UnsupportedOperation.InstancesNotAllowToAttach"
    assert attach("nobody") == not_allowed
    assert attach("spare", "nobody") == not_allowed  # all or nothing
    assert attach(own["ComputeNodeId"]) == not_allowed  # batchd's own worker
    assert attach(own["ComputeNodeInstanceId"]) == not_allowed  # a node's id already
    assert attach("spare", "spare") == "InvalidParameterValue.InstanceIdDuplicated"
    assert detach("spare", "spare") == "InvalidParameterValue.InstanceIdDuplicated"
    assert detach(own["ComputeNodeInstanceId"]) == "UnsupportedOperation"
    assert detach("spare") == "ResourceNotFound.ComputeNode"  # connected, not attached
    assert refused(
        batch,
        "AttachInstances",
        {"EnvId": "env-zzzzzzzz", "Instances": [{"InstanceId": "spare"}]},
    ) == ("ResourceNotFound.ComputeEnv")
    # Nothing was written: the env still has its one node, and "spare" can still be attached.
    assert [n["ComputeNodeId"] for n in nodes(batch, env_id)] == [own["ComputeNodeId"]]
    batch("AttachInstances", {"EnvId": env_id, "Instances": [{"InstanceId": "spare"}]})
    attached_node(batch, env_id, "spare")
    # DesiredComputeNodeCount counts only batchd's nodes: scaling to 0 keeps the attached one.
    batch("ModifyComputeEnv", {"EnvId": env_id, "DesiredComputeNodeCount": 0})
    batch.until(
        "DescribeComputeEnv",
        {"EnvId": env_id},
        lambda d: [n["ComputeNodeInstanceId"] for n in d["ComputeNodeSet"]] == ["spare"],
    )
