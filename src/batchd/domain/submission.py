"""What SubmitJob and CreateComputeEnv ask for, in the core's terms, and their checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batchd.domain import errors
from batchd.domain import task as dag
from batchd.domain.states import DependOn, FailedAction


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSubmission:
    name: str
    instance_num: int
    env_id: str  # named environment, "" for an anonymous one
    anonymous_env: dict[str, Any] | None  # Task.ComputeEnv as submitted
    max_retry: int
    timeout_s: int
    failed_action: FailedAction
    max_concurrent: int
    spec: dict[str, Any]  # the Task as submitted (API spelling), for the runner and echoes


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSubmission:
    name: str
    description: str
    priority: int
    zone: str
    depend_on: DependOn
    state_if_create_failed: str
    tasks: tuple[TaskSubmission, ...]
    dependences: tuple[tuple[str, str], ...]
    notifications: list[dict[str, Any]] = field(default_factory=list)  # canonical spelling
    tags: list[dict[str, str]] = field(default_factory=list)
    submitted: dict[str, Any] = field(default_factory=dict)  # the Job as submitted
    client_token: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvSubmission:
    name: str
    description: str
    env_type: str
    zone: str
    desired: int
    cpu: int
    mem_gib: int
    resource_max_retry: int
    notifications: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, str]] = field(default_factory=list)
    submitted: dict[str, Any] = field(default_factory=dict)  # the NamedComputeEnv as submitted
    client_token: str = ""


def check_job(job: JobSubmission) -> None:
    """The structural rules of SubmitJob (batch-api.md §2) that need no lookups."""
    if not job.tasks:
        raise errors.MissingParameter("a job needs at least one task", parameter="Job.Tasks")
    names = [task.name for task in job.tasks]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise errors.InvalidParameter(
            f"task names must be unique in a job: {', '.join(duplicates)}",
            parameter="TaskName",
            code="InvalidParameter.TaskName",
        )
    for task in job.tasks:
        if bool(task.env_id) == (task.anonymous_env is not None):
            raise errors.InvalidParameter(
                f"task {task.name} must name exactly one of EnvId and ComputeEnv",
                parameter="EnvId",
                code="AllowedOneAttributeInEnvIdAndComputeEnv",
            )
    known = set(names)
    edges: dict[str, list[str]] = {}
    for start, end in job.dependences:
        for name in (start, end):
            if name not in known:
                raise errors.InvalidParameterValue(
                    f"dependence names a task that is not in the job: {name}",
                    parameter="Dependences",
                    code="InvalidParameterValue.DependenceNotFoundTaskName",
                )
        edges.setdefault(start, []).append(end)
    cycle = dag.find_cycle(names, edges)
    if cycle:
        raise errors.InvalidParameterValue(
            f"dependences form a cycle: {' -> '.join(cycle)}",
            parameter="Dependences",
            code="InvalidParameterValue.DependenceUnfeasible",
        )
