"""The Batch API calls of dispatch.py and events.py: a warm environment, jobs, waiting for them."""

from __future__ import annotations

import math
import time
from typing import Any

from batchd.cli.batch_client import BatchClient
from report import progress

ZONE = "ap-guangzhou-2"
NODES = 2
NODE_CPU = 1
ENV_CAP = 120.0  # s for the environment to run
JOB_POLL = 0.05  # s between DescribeJob calls
FINAL_JOB_STATES = ("SUCCEED", "FAILED")


def create_env(client: BatchClient, timeout: float = ENV_CAP) -> str:
    """An environment of NODES nodes of NODE_CPU CPU, once all its nodes are RUNNING."""
    env_data = {"InstanceTypeOptions": {"CPU": NODE_CPU, "Memory": 1}}
    compute_env = {"EnvName": "bench", "DesiredComputeNodeCount": NODES, "EnvData": env_data}
    answer = client.call(
        "CreateComputeEnv", {"ComputeEnv": compute_env, "Placement": {"Zone": ZONE}}
    )
    env_id = str(answer["EnvId"])
    deadline = time.monotonic() + timeout
    while True:
        nodes = client.call("DescribeComputeEnv", {"EnvId": env_id})["ComputeNodeSet"]
        states = [node["ComputeNodeState"] for node in nodes]
        if states.count("RUNNING") == NODES:
            return env_id
        if time.monotonic() > deadline:
            raise RuntimeError(f"environment {env_id} not RUNNING after {timeout:g} s: {states}")
        time.sleep(0.1)


def submit_job(
    client: BatchClient,
    env_id: str,
    instances: int,
    command: str,
    notifications: list[dict[str, Any]] | None = None,
) -> str:
    """A job of one task "t" of `instances` x `command`, with `notifications` when given."""
    task = {
        "TaskName": "t",
        "TaskInstanceNum": instances,
        "EnvId": env_id,
        "Application": {"DeliveryForm": "LOCAL", "Command": command},
    }
    job: dict[str, Any] = {"Tasks": [task]}
    if notifications is not None:
        job["Notifications"] = notifications
    answer = client.call("SubmitJob", {"Placement": {"Zone": ZONE}, "Job": job})
    return str(answer["JobId"])


def wait_job(
    client: BatchClient,
    job_id: str,
    timeout: float,
    poll: float = JOB_POLL,
    progress_every: float = math.inf,
) -> dict[str, Any]:
    """Poll DescribeJob every `poll` s until the job is final or `timeout` s have passed;
    returns the last answer. Prints the instances done every `progress_every` s."""
    started = time.perf_counter()
    deadline, next_report = started + timeout, started + progress_every
    while True:
        answer = client.call("DescribeJob", {"JobId": job_id})
        now = time.perf_counter()
        if answer["JobState"] in FINAL_JOB_STATES or now > deadline:
            return answer
        if now >= next_report:
            progress(
                f"    {job_id}: {instances_done(answer)} instances done after {now - started:.0f} s"
            )
            next_report += progress_every
        time.sleep(poll)


def instances_done(answer: dict[str, Any]) -> int:
    metrics = answer.get("TaskInstanceMetrics") or {}
    return int(metrics.get("SucceedCount", 0)) + int(metrics.get("FailedCount", 0))
