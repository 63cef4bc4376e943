"""Records of jobs, tasks and environments as the batch core works with them."""

from __future__ import annotations

from dataclasses import dataclass

from batchd.domain.states import DependOn, FailedAction, InstanceState


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    pk: int
    job_id: str
    account: str
    region: str
    name: str
    priority: int
    zone: str
    state: InstanceState
    reason: str
    next_action: str
    depend_on: DependOn
    dependences: tuple[tuple[str, str], ...]  # (StartTask, EndTask)
    ever_running: bool
    sequence: int
    created_ms: int
    end_ms: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    pk: int
    job_pk: int
    position: int
    name: str
    state: InstanceState
    instance_num: int
    env_id: str
    anonymous: bool
    max_retry: int
    timeout_s: int
    failed_action: FailedAction
    max_concurrent: int  # 0 = unlimited
    ever_running: bool
    created_ms: int
    end_ms: int | None


RESOURCE_TYPE = "CVM"  # every environment's ResourceType: the only value clients know


@dataclass(frozen=True, slots=True, kw_only=True)
class Env:
    pk: int
    env_id: str
    account: str
    region: str
    name: str
    description: str
    env_type: str
    zone: str
    desired: int
    cpu: int
    mem_gib: int
    deleting: bool
    anonymous_job_id: str | None
    sequence: int
    created_ms: int
    anonymous_task: str | None = None  # the task an anonymous environment was created for
    resource_max_retry: int = 0  # node creations that may fail and be replaced (RECREATE)
    creation_failures: int = 0  # node creations of this env that failed so far
    # Anonymous envs: the job's StateIfCreateCvmFailed, FAILED or RUNNABLE; "" for named envs.
    if_creation_failed: str = ""
