"""The SubmitJob request of `batchd submit --command …`: one task of N instances of a shell
command, as a job file with the same content would ask for (it goes the same way from here)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from batchd.cli.output import usage

TASK_NAME = "main"
ANONYMOUS_INSTANCE_TYPE = "S5.SMALL1"  # a node of 1 core, 1 GiB for the job alone


def env_var(text: str) -> dict[str, str]:
    """`NAME=value` as an EnvVars item."""
    name, equals, value = text.partition("=")
    if not equals or not name:
        usage(f"--env-var {text!r}: give NAME=value")
    return {"Name": name, "Value": value}


def notification(text: str) -> dict[str, Any]:
    """`TOPIC=EVENT,EVENT` as a Notifications item."""
    topic, equals, events = text.partition("=")
    names = [name.strip() for name in events.split(",") if name.strip()]
    if not equals or not topic or not names:
        usage(f"--notify {text!r}: give TOPIC=EVENT[,EVENT…], e.g. events=JOB_SUCCEED,JOB_FAILED")
    return {"TopicName": topic, "EventConfigs": [{"EventName": name} for name in names]}


def request(
    command: str,
    *,
    instances: int,
    env_id: str | None,
    retries: int | None,
    timeout: int | None,
    env_vars: Sequence[str],
    notify: Sequence[str],
    name: str | None,
) -> dict[str, Any]:
    """The request: a named environment's task, or one with an anonymous environment."""
    task: dict[str, Any] = {
        "TaskName": TASK_NAME,
        "TaskInstanceNum": instances,
        "Application": {"DeliveryForm": "LOCAL", "Command": command},
    }
    if env_id is not None:
        task["EnvId"] = env_id
    else:
        task["ComputeEnv"] = {
            "EnvType": "MANAGED",
            "EnvData": {"InstanceType": ANONYMOUS_INSTANCE_TYPE},
        }
    if retries is not None:
        task["MaxRetryCount"] = retries
    if timeout is not None:
        task["Timeout"] = timeout
    if env_vars:
        task["EnvVars"] = [env_var(text) for text in env_vars]
    job: dict[str, Any] = {"JobName": name or "command", "Tasks": [task]}
    if notify:
        job["Notifications"] = [notification(text) for text in notify]
    return {"Job": job}
