"""What one task-instance attempt is to the compute layer: its spec, its result, its reasons.

Everything here must unpickle on a Dask worker: plain frozen dataclasses and the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Why an attempt did not succeed (`InstanceResult.reason`); success is the empty string."""

    EXIT_CODE_NON_ZERO = "EXIT_CODE_NON_ZERO"
    TIMEOUT = "TIMEOUT"
    TERMINATED_BY_USER = "TERMINATED_BY_USER"
    INPUT_MAPPING_FAILED = "INPUT_MAPPING_FAILED"
    OUTPUT_MAPPING_FAILED = "OUTPUT_MAPPING_FAILED"
    DOCKER_UNAVAILABLE = "DOCKER_UNAVAILABLE"
    PACKAGE_FAILED = "PACKAGE_FAILED"
    WRONG_NODE = "WRONG_NODE"


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceSpec:
    """Everything a worker needs to run one attempt of one task instance."""

    key: str  # unique per attempt, e.g. "job-abc12345/Task1/3/2"
    job_id: str
    task_name: str
    instance_num: int
    index: int
    attempt: int  # 1-based
    env_id: str
    node_id: str  # the worker name the attempt is pinned to; "" lets Dask place it anywhere
    command: str | None = None  # run by /bin/sh -c in the work dir
    commands: tuple[str, ...] = ()  # alternative: one after another, first non-zero exit ends
    env_vars: tuple[tuple[str, str], ...] = ()  # cannot override the BATCH_* variables
    work_dir: str  # <data>/work/<JobId>/<TaskName>/<Index>.<attempt>
    timeout_seconds: float = 86400.0  # counted from the launch of the first command
    input_mappings: tuple[tuple[str, str], ...] = ()  # (source URI, destination path)
    output_mappings: tuple[tuple[str, str], ...] = ()  # (source path, destination URI)
    stdout_redirect: str | None = None  # destination file URI, placeholders already resolved
    stderr_redirect: str | None = None
    stdout_local: str | None = None  # RedirectLocalInfo: a local file path, resolved likewise
    stderr_local: str | None = None
    docker_image: str | None = None
    docker_run_option: str = ""
    package_path: str | None = None  # DeliveryForm PACKAGE
    restart_node: bool = False  # RestartComputeNode: its node restarts once it has ended
    priority: int = 0  # its job's Priority: higher runs first among the attempts waiting
    isolate: bool = False  # commands under a user id of their own where the node may (isolation)

    def __post_init__(self) -> None:
        if (self.command is None) == (not self.commands):
            raise ValueError(f"{self.key}: give exactly one of command and commands")


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceResult:
    """What happened to one attempt."""

    key: str
    node_id: str  # the worker the attempt actually landed on
    exit_code: int | None  # None when the command never ended by itself
    reason: str  # "" on success, else a `Reason` value (or the reason given to kill_instance)
    detail: str
    started_at: float | None  # time.time() at the first launch; None if nothing was launched
    ended_at: float
    stdout_tail: bytes
    stderr_tail: bytes
