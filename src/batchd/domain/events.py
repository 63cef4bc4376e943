"""The event catalogue and the `Batch` bodies of events.md §3, built from records."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from batchd.domain import task as task_rules
from batchd.domain.instance import Instance
from batchd.domain.job import Env, Job, Task
from batchd.domain.node import Node
from batchd.domain.states import InstanceState

JOB_EVENTS = ("JOB_RUNNING", "JOB_SUCCEED", "JOB_FAILED", "JOB_FAILED_INTERRUPTED")
TASK_EVENTS = ("TASK_RUNNING", "TASK_SUCCEED", "TASK_FAILED", "TASK_FAILED_INTERRUPTED")
INSTANCE_EVENTS = (
    "TASK_INSTANCE_RUNNING",
    "TASK_INSTANCE_SUCCEED",
    "TASK_INSTANCE_FAILED",
    "TASK_INSTANCE_FAILED_INTERRUPTED",
)
ENV_EVENTS = ("COMPUTE_ENV_CREATED", "COMPUTE_ENV_DELETED")
NODE_EVENTS = (
    "COMPUTE_NODE_CREATED",
    "COMPUTE_NODE_CREATION_FAILED",
    "COMPUTE_NODE_RUNNING",
    "COMPUTE_NODE_ABNORMAL",
    "COMPUTE_NODE_DELETING",
)
ALL_EVENTS = JOB_EVENTS + TASK_EVENTS + INSTANCE_EVENTS + ENV_EVENTS + NODE_EVENTS


def iso(ms: int | None) -> str | None:
    """UTC `YYYY-MM-DDTHH:MM:SSZ`, or None."""
    if ms is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def job_body(job: Job, task_states: Iterable[InstanceState]) -> dict[str, Any]:
    return {
        "JobId": job.job_id,
        "JobName": job.name,
        "JobState": job.state.value,
        "Priority": job.priority,
        "Zone": job.zone,
        "CreateTime": iso(job.created_ms),
        "EndTime": iso(job.end_ms),
        "StateReason": job.reason,
        "TaskMetrics": task_rules.metrics(task_states),
    }


def task_body(job: Job, task: Task, instance_states: Iterable[InstanceState]) -> dict[str, Any]:
    return {
        "JobId": job.job_id,
        "JobName": job.name,
        "TaskName": task.name,
        "TaskState": task.state.value,
        "TaskInstanceNum": task.instance_num,
        "EnvId": task.env_id,
        "CreateTime": iso(task.created_ms),
        "EndTime": iso(task.end_ms),
        "StateReason": "",
        "TaskInstanceMetrics": task_rules.metrics(instance_states),
    }


def instance_body(
    job: Job, task: Task, instance: Instance, node_instance_ids: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "JobId": job.job_id,
        "JobName": job.name,
        "TaskName": task.name,
        "TaskInstanceIndex": instance.index,
        "TaskInstanceState": instance.state.value,
        "Attempt": instance.attempt,
        "ExitCode": instance.exit_code,
        "StateReason": instance.reason,
        "StateDetailedReason": instance.detail,
        "EnvId": instance.env_id,
        "ComputeNodeId": instance.node_id,
        "ComputeNodeInstanceId": node_instance_ids.get(instance.node_id, ""),
        "CreateTime": iso(instance.create_ms),
        "LaunchTime": iso(instance.launch_ms),
        "RunningTime": iso(instance.running_ms),
        "EndTime": iso(instance.end_ms),
    }


def env_body(env: Env, deleted_ms: int | None) -> dict[str, Any]:
    return {
        "EnvId": env.env_id,
        "EnvName": env.name,
        "EnvType": env.env_type,
        "EnvDescription": env.description,
        "DesiredComputeNodeCount": env.desired,
        "CreateTime": iso(env.created_ms),
        "DeleteTime": iso(deleted_ms),
    }


def node_body(env: Env, node: Node) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ComputeNodeId": node.node_id,
        "ComputeNodeInstanceId": node.instance_id,
        "ComputeNodeState": node.state.value,
        "EnvId": env.env_id,
        "EnvName": env.name,
        "Cpu": node.cpu,
        "Mem": node.mem_gib,
        "ResourceCreatedTime": iso(node.created_ms),
        "StateReason": node.reason,
        "ResourceOrigin": node.origin,
    }
    if env.anonymous_job_id is not None:
        body["JobId"] = env.anonymous_job_id
        body["TaskName"] = env.anonymous_task or ""
    return body
