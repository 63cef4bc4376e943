"""Restarting nodes in a named environment: after each instance of a task with
RestartComputeNode, and after TerminateTaskInstance, the node's worker process is replaced; work
Dask had queued on that node meanwhile is not lost, not run twice and not counted as failed; the
node stays RUNNING throughout.

Commands print `$PPID`, the pid of the Dask worker process that launched them: a restarted
node has a new one."""

from __future__ import annotations

import base64
from typing import Any

from tests.batch.conftest import BatchApi, command_task


def _parents(batch: BatchApi, job_id: str, task: str, count: int) -> list[int]:
    """The worker pid each instance of `task` printed, by index."""
    answer = batch(
        "DescribeTaskLogs",
        {"JobId": job_id, "TaskName": task, "TaskInstanceIndexes": list(range(count))},
    )
    logs = sorted(answer["TaskInstanceLogSet"], key=lambda log: log["TaskInstanceIndex"])
    return [int(base64.b64decode(log["StdoutLog"].partition("base64,")[2])) for log in logs]


def _history(batch: BatchApi, owner_id: str) -> list[dict[str, Any]]:
    answer = batch.client.call_json("DescribeEvents", {"OwnerId": owner_id, "Limit": 100})
    return list(answer["Response"]["EventSet"])


def _instance_events(batch: BatchApi, job_id: str, task: str) -> list[tuple[str, int, int]]:
    """(event, index, attempt) of every instance event of `task`, sorted."""
    return sorted(
        (
            item["EventName"],
            item["Event"]["Batch"]["TaskInstanceIndex"],
            item["Event"]["Batch"]["Attempt"],
        )
        for item in _history(batch, job_id)
        if item["EventName"].startswith("TASK_INSTANCE_")
        and item["Event"]["Batch"]["TaskName"] == task
    )


def test_each_instance_gets_a_fresh_worker_and_queued_work_survives(batch: BatchApi) -> None:
    env_id = batch.env(nodes=1, name="restarting")
    node_id = batch("DescribeComputeEnv", {"EnvId": env_id})["ComputeNodeSet"][0]["ComputeNodeId"]
    tasks: list[dict[str, Any]] = [
        command_task("fresh", env_id, "echo $PPID", TaskInstanceNum=3, RestartComputeNode=True),
        # Independent of "fresh": Dask queues these on the only node while "fresh" runs there.
        command_task("plain", env_id, "echo $PPID", TaskInstanceNum=4),
    ]
    job_id = batch.submit(tasks)

    assert batch.finished(job_id, timeout=120)["JobState"] == "SUCCEED"
    fresh = _parents(batch, job_id, "fresh", 3)
    assert len(set(fresh)) == 3, fresh  # one worker process per instance
    # Each "plain" instance ran once, at its first attempt: none was lost, failed or run twice.
    assert _instance_events(batch, job_id, "plain") == [
        (event, index, 1)
        for event in ("TASK_INSTANCE_RUNNING", "TASK_INSTANCE_SUCCEED")
        for index in range(4)
    ]
    nodes = batch("DescribeComputeEnv", {"EnvId": env_id})["ComputeNodeSet"]
    assert [(n["ComputeNodeId"], n["ComputeNodeState"]) for n in nodes] == [(node_id, "RUNNING")]
    node_events = [item["EventName"] for item in _history(batch, env_id)]
    assert "COMPUTE_NODE_ABNORMAL" not in node_events


def test_without_it_instances_share_their_node_s_worker(batch: BatchApi) -> None:
    env_id = batch.env(nodes=1, name="steady")
    job_id = batch.submit([command_task("same", env_id, "echo $PPID", TaskInstanceNum=3)])

    assert batch.finished(job_id)["JobState"] == "SUCCEED"
    assert len(set(_parents(batch, job_id, "same", 3))) == 1


def test_terminating_an_instance_restarts_its_node(batch: BatchApi) -> None:
    env_id = batch.env(nodes=1, name="terminating")
    long_job = batch.submit([command_task("long", env_id, "echo $PPID; exec sleep 60")])
    batch.until(
        "DescribeTask",
        {"JobId": long_job, "TaskName": "long"},
        lambda d: d["TaskInstanceSet"][0]["TaskInstanceState"] == "RUNNING",
    )
    # Queued on the only node, behind the running instance.
    queued_job = batch.submit([command_task("queued", env_id, "echo $PPID", TaskInstanceNum=2)])

    batch("TerminateTaskInstance", {"JobId": long_job, "TaskName": "long", "TaskInstanceIndex": 0})

    assert batch.finished(long_job)["JobState"] == "FAILED"
    assert batch.finished(queued_job)["JobState"] == "SUCCEED"
    [terminated] = _parents(batch, long_job, "long", 1)
    assert terminated not in _parents(batch, queued_job, "queued", 2)
    assert _instance_events(batch, queued_job, "queued") == [
        (event, index, 1)
        for event in ("TASK_INSTANCE_RUNNING", "TASK_INSTANCE_SUCCEED")
        for index in range(2)
    ]
    nodes = batch("DescribeComputeEnv", {"EnvId": env_id})["ComputeNodeSet"]
    assert [n["ComputeNodeState"] for n in nodes] == ["RUNNING"]
