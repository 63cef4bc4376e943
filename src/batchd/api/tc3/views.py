"""Answer objects of the Batch API (TaskView, ComputeNode …) built from the core's records."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

from batchd import __version__
from batchd.domain import task as task_rules
from batchd.domain.events import iso
from batchd.domain.instance import Instance
from batchd.domain.job import RESOURCE_TYPE, Env, Task
from batchd.domain.node import Node
from batchd.domain.states import InstanceState, NodeState

NODE_METRICS = {
    NodeState.SUBMITTED: "SubmittedCount",
    NodeState.CREATING: "CreatingCount",
    NodeState.CREATION_FAILED: "CreationFailedCount",
    NodeState.CREATED: "CreatedCount",
    NodeState.RUNNING: "RunningCount",
    NodeState.DELETING: "DeletingCount",
    NodeState.ABNORMAL: "AbnormalCount",
}


def expand(counts: Mapping[InstanceState, int]) -> list[InstanceState]:
    return [state for state, n in counts.items() for _ in range(n)]


def metrics(states: Iterable[InstanceState]) -> dict[str, int]:
    return task_rules.metrics(states)


def task_view(task: Task) -> dict[str, Any]:
    return {
        "TaskName": task.name,
        "TaskState": task.state.value,
        "CreateTime": iso(task.created_ms),
        "EndTime": iso(task.end_ms),
    }


def redirect_info(job_id: str, task: Task, spec: Mapping[str, Any], index: int) -> dict[str, Any]:
    redirect = spec.get("RedirectInfo") or {}

    def name(key: str, default: str) -> str:
        text = str(redirect.get(key) or default)
        return (
            text.replace("${BATCH_JOB_ID}", job_id)
            .replace("${BATCH_TASK_NAME}", task.name)
            .replace("${BATCH_TASK_INSTANCE_INDEX}", str(index))
        )

    return {
        "StdoutRedirectPath": redirect.get("StdoutRedirectPath", ""),
        "StderrRedirectPath": redirect.get("StderrRedirectPath", ""),
        "StdoutRedirectFileName": name(
            "StdoutRedirectFileName", f"stdout.{job_id}.{task.name}.{index}.log"
        ),
        "StderrRedirectFileName": name(
            "StderrRedirectFileName", f"stderr.{job_id}.{task.name}.{index}.log"
        ),
    }


def instance_view(
    job_id: str,
    task: Task,
    spec: Mapping[str, Any],
    instance: Instance,
    node_instance_ids: Mapping[str, str],
) -> dict[str, Any]:
    placed = instance.state in (InstanceState.STARTING, InstanceState.RUNNING)
    return {
        "TaskInstanceIndex": instance.index,
        "TaskInstanceState": instance.state.value,
        "ExitCode": instance.exit_code,
        "StateReason": instance.reason,
        "ComputeNodeInstanceId": node_instance_ids.get(instance.node_id, "") if placed else "",
        "CreateTime": iso(instance.create_ms),
        "LaunchTime": iso(instance.launch_ms),
        "RunningTime": iso(instance.running_ms),
        "EndTime": iso(instance.end_ms),
        "RedirectInfo": redirect_info(job_id, task, spec, instance.index),
        "StateDetailedReason": instance.detail,
    }


def log_text(data: bytes) -> str:
    """A stream tail as the service showed it: a Base64 data URI."""
    return "data:text/plain;charset=utf-8;base64," + base64.b64encode(data).decode("ascii")


def node_view(node: Node, busy: bool) -> dict[str, Any]:
    return {
        "ComputeNodeId": node.node_id,
        "ComputeNodeInstanceId": node.instance_id,
        "ComputeNodeState": node.state.value,
        "Cpu": node.cpu,
        "Mem": node.mem_gib,
        "ResourceCreatedTime": iso(node.created_ms),
        "TaskInstanceNumAvailable": 0 if busy or node.state is not NodeState.RUNNING else 1,
        "AgentVersion": __version__,
        "PrivateIpAddresses": [_host(node.address)] if node.address else [],
        "PublicIpAddresses": [],
        "ResourceType": RESOURCE_TYPE,
        "ResourceOrigin": node.origin,
    }


def _host(address: str) -> str:
    return address.removeprefix("tcp://").rsplit(":", 1)[0]


def node_metrics(nodes: Iterable[Node]) -> dict[str, int]:
    counts = dict.fromkeys(NODE_METRICS.values(), 0)
    for node in nodes:
        counts[NODE_METRICS[node.state]] += 1
    return counts


def env_view(env: Env, nodes: list[Node], tags: list[Any]) -> dict[str, Any]:
    return {
        "EnvId": env.env_id,
        "EnvName": env.name,
        "Placement": {"Zone": env.zone},
        "CreateTime": iso(env.created_ms),
        "ComputeNodeMetrics": node_metrics(nodes),
        "EnvType": env.env_type,
        "DesiredComputeNodeCount": env.desired,
        "ResourceType": RESOURCE_TYPE,
        "NextAction": "DELETING" if env.deleting else "",
        "AttachedComputeNodeCount": sum(1 for n in nodes if n.origin == "USER_ATTACHED"),
        "Tags": tags,
    }
