"""The worker-side runner: one task-instance attempt, run as one Dask task on a compute node.

It stages the package and inputs into the attempt's work dir, runs the command(s) with the Batch
environment variables in a process group of their own, captures stdout/stderr to files, stages
outputs after exit 0, copies the redirects and returns an `InstanceResult`. The controller owns
states, retries and timeouts; this module only reports what happened (batch-api.md §3, §4.8, §5).

Everything here must unpickle on a Dask worker: top-level functions, plain frozen dataclasses,
standard library plus fsspec; `distributed` is imported lazily, only to talk to the worker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, TYPE_CHECKING

from batchd.compute import staging
from batchd.compute.process import Attempt, Watchdog

if TYPE_CHECKING:
    from distributed import Worker

logger = logging.getLogger(__name__)

TAIL_BYTES = 2048
EVENT_TOPIC = "batchd-instance"  # worker.log_event topic of the "command launched" announcement
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"
CONTAINER_WORK_DIR = "/batch"


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
    work_dir: str  # <data>/work/<JobId>/<TaskName>/<Index>/<attempt>
    timeout_seconds: float = 86400.0  # counted from the launch of the first command
    input_mappings: tuple[tuple[str, str], ...] = ()  # (source URI, destination path)
    output_mappings: tuple[tuple[str, str], ...] = ()  # (source path, destination URI)
    stdout_redirect: str | None = None  # destination file URI, placeholders already resolved
    stderr_redirect: str | None = None
    docker_image: str | None = None
    docker_run_option: str = ""
    package_path: str | None = None  # DeliveryForm PACKAGE

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


@dataclass(frozen=True, slots=True)
class _Verdict:
    exit_code: int | None
    reason: str
    detail: str
    started_at: float | None = None


# Attempts running in this worker process, for kill_instance (called via client.run).
_running: dict[str, Attempt] = {}
_running_lock = threading.Lock()


def run_instance(spec: InstanceSpec) -> InstanceResult:
    """Run one attempt to its end and report it; the Dask task function."""
    worker = _current_worker()
    node_id = spec.node_id if worker is None else str(worker.name)
    if spec.node_id and node_id != spec.node_id:
        # Dask re-ran the task elsewhere (e.g. after losing the worker): the controller decides
        # about retries, so the command must not run a second time.
        return _result(
            spec,
            node_id,
            _Verdict(None, Reason.WRONG_NODE, f"pinned to {spec.node_id}, not run on {node_id}"),
            tails=(b"", b""),
        )
    # An unpinned attempt runs wherever Dask placed it; the command learns that node's id.
    spec = dataclasses.replace(spec, node_id=node_id)
    engine = None
    if spec.docker_image is not None:
        engine, problem = _container_engine(spec)
        if engine is None:
            verdict = _Verdict(None, Reason.DOCKER_UNAVAILABLE, problem)
            return _result(spec, node_id, verdict, tails=(b"", b""))
    attempt = Attempt(spec.key)
    with _running_lock:
        if spec.key in _running:
            raise RuntimeError(f"attempt {spec.key} is already running on this worker")
        _running[spec.key] = attempt
    try:
        verdict = _run(spec, attempt, engine, lambda at: _announce_running(worker, spec, at))
    finally:
        with _running_lock:
            del _running[spec.key]
    return _result(spec, node_id, verdict, tails=read_tails(spec.work_dir))


def kill_instance(key: str, reason: str = "TERMINATED_BY_USER") -> bool:
    """Stop attempt `key` in this process; False if it is not running here.

    Meant for ``client.run(kill_instance, key, workers=[address])``. It returns at once: the
    group gets SIGTERM now, and the runner thread sends SIGKILL after a short grace, so the whole
    group is gone within 2 s and `run_instance` returns with `reason`.
    """
    with _running_lock:
        attempt = _running.get(key)
    if attempt is None:
        return False
    attempt.request_kill(reason)
    return True


def read_tails(work_dir: str) -> tuple[bytes, bytes]:
    """The last TAIL_BYTES of the stdout and stderr files of a running or finished attempt."""
    return _tail(os.path.join(work_dir, STDOUT_FILE)), _tail(os.path.join(work_dir, STDERR_FILE))


def batch_variables(spec: InstanceSpec) -> dict[str, str]:
    """The BATCH_* variables of an attempt (batch-api.md §5)."""
    return {
        "BATCH_JOB_ID": spec.job_id,
        "BATCH_TASK_NAME": spec.task_name,
        "BATCH_TASK_INSTANCE_NUM": str(spec.instance_num),
        "BATCH_TASK_INSTANCE_INDEX": str(spec.index),
        "BATCH_COMPUTE_NODE_ID": spec.node_id,
        "BATCH_ENV_ID": spec.env_id,
        "BATCH_TASK_INSTANCE_ATTEMPT": str(spec.attempt),
    }


def _run(
    spec: InstanceSpec, attempt: Attempt, engine: str | None, announce: Callable[[float], None]
) -> _Verdict:
    work_dir = spec.work_dir
    with contextlib.ExitStack() as files:
        try:
            os.makedirs(work_dir, exist_ok=True)
            # Append: a re-run of the same attempt directory must not erase earlier output.
            out = files.enter_context(open(os.path.join(work_dir, STDOUT_FILE), "ab"))
            err = files.enter_context(open(os.path.join(work_dir, STDERR_FILE), "ab"))
        except OSError as error:
            detail = f"cannot create the work dir {work_dir}: {error}"
            return _Verdict(None, Reason.INPUT_MAPPING_FAILED, detail)
        verdict = _stage_in(spec)
        if verdict is None:
            verdict = _execute(spec, attempt, engine, announce, out, err)
    if verdict.reason == "":
        try:
            for source, destination in spec.output_mappings:
                staging.stage_out(source, destination, work_dir)
        except staging.StagingError as error:
            verdict = _Verdict(0, Reason.OUTPUT_MAPPING_FAILED, str(error), verdict.started_at)
    return _copy_redirects(spec, verdict)


def _stage_in(spec: InstanceSpec) -> _Verdict | None:
    """Unpack the package and copy the inputs; a failure verdict, or None when all is staged."""
    if spec.package_path:
        try:
            staging.unpack_package(spec.package_path, spec.work_dir)
        except staging.StagingError as error:
            return _Verdict(None, Reason.PACKAGE_FAILED, str(error))
    try:
        for source, destination in spec.input_mappings:
            staging.stage_in(source, destination, spec.work_dir)
    except staging.StagingError as error:
        return _Verdict(None, Reason.INPUT_MAPPING_FAILED, str(error))
    return None


def _execute(
    spec: InstanceSpec,
    attempt: Attempt,
    engine: str | None,
    announce: Callable[[float], None],
    out: IO[bytes],
    err: IO[bytes],
) -> _Verdict:
    env = _environment(spec)
    commands = (spec.command,) if spec.command is not None else spec.commands
    deadline = time.monotonic() + spec.timeout_seconds  # Timeout counts from RUNNING
    started_at: float | None = None
    guard = Watchdog()  # before the first launch: no moment without a watchdog
    try:
        for number, command in enumerate(commands):
            container = _container_name(spec.key, number)
            if engine is None:
                argv = ["/bin/sh", "-c", command]
            else:
                argv = _docker_argv(spec, engine, container, env, command)
            outcome = attempt.run(
                argv,
                cwd=spec.work_dir,
                env=env,
                stdout=out,
                stderr=err,
                deadline=deadline,
                guard=guard,
                on_start=announce if started_at is None else None,
            )
            started_at = started_at if started_at is not None else outcome.started_at
            if outcome.stopped_by is not None:
                if engine is not None and outcome.started_at is not None:
                    _remove_container(engine, container)
                return _Verdict(
                    None, outcome.stopped_by, _stop_detail(spec, outcome.stopped_by), started_at
                )
            code = outcome.returncode
            if code != 0:
                return _exit_verdict(code, started_at)
    finally:
        guard.close()
    return _Verdict(0, "", "command exited with code 0", started_at)


def _exit_verdict(code: int | None, started_at: float | None) -> _Verdict:
    if code is None:
        return _Verdict(None, Reason.EXIT_CODE_NON_ZERO, "command could not be reaped", started_at)
    if code < 0:  # killed by a signal nobody in batchd sent (a crash, the OOM killer, ...)
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        return _Verdict(
            128 - code, Reason.EXIT_CODE_NON_ZERO, f"command was killed by {name}", started_at
        )
    return _Verdict(code, Reason.EXIT_CODE_NON_ZERO, f"command exited with code {code}", started_at)


def _stop_detail(spec: InstanceSpec, stopped_by: str) -> str:
    if stopped_by == Reason.TIMEOUT:
        return f"command did not finish within the timeout of {spec.timeout_seconds:g} s"
    return f"attempt stopped on request ({stopped_by})"


def _copy_redirects(spec: InstanceSpec, verdict: _Verdict) -> _Verdict:
    problems: list[str] = []
    for local, destination in (
        (STDOUT_FILE, spec.stdout_redirect),
        (STDERR_FILE, spec.stderr_redirect),
    ):
        if destination:
            try:
                staging.stage_out(local, destination, spec.work_dir)
            except staging.StagingError as error:
                problems.append(str(error))
    if not problems:
        return verdict
    if verdict.reason == "":
        return _Verdict(
            verdict.exit_code, Reason.OUTPUT_MAPPING_FAILED, "; ".join(problems), verdict.started_at
        )
    detail = "; ".join([verdict.detail, *problems])  # the first failure stays the reason
    return _Verdict(verdict.exit_code, verdict.reason, detail, verdict.started_at)


def _environment(spec: InstanceSpec) -> dict[str, str]:
    batch = batch_variables(spec)
    # The worker's own environment (PATH, HOME, ...) is the node's environment for commands.
    env = dict(os.environ)
    env.update(batch)
    env.update((name, value) for name, value in spec.env_vars if name not in batch)
    return env


def _container_engine(spec: InstanceSpec) -> tuple[str | None, str]:
    """The docker (or podman) executable, or None and why the image cannot run here."""
    try:
        shlex.split(spec.docker_run_option)
    except ValueError as error:
        return None, f"cannot parse DockerRunOption {spec.docker_run_option!r}: {error}"
    engine = shutil.which("docker") or shutil.which("podman")
    if engine is None:
        return None, f"image {spec.docker_image} needs docker or podman; neither is on PATH"
    return engine, ""


def _docker_argv(
    spec: InstanceSpec, engine: str, container: str, env: dict[str, str], command: str
) -> list[str]:
    # "-e NAME" without a value passes the variable from the engine client's environment.
    names = [*batch_variables(spec), *(name for name, _ in spec.env_vars)]
    env_flags = [flag for name in dict.fromkeys(names) if name in env for flag in ("-e", name)]
    volume = f"{os.path.abspath(spec.work_dir)}:{CONTAINER_WORK_DIR}"
    run = [engine, "run", "--rm", "--name", container, "-v", volume, "-w", CONTAINER_WORK_DIR]
    image = spec.docker_image or ""
    return [*run, *env_flags, *shlex.split(spec.docker_run_option), image, "/bin/sh", "-c", command]


def _container_name(key: str, number: int) -> str:
    return f"batchd-{re.sub(r'[^A-Za-z0-9_.-]', '.', key)}-{number}"


def _remove_container(engine: str, container: str) -> None:
    # Killing the client does not stop the container; best effort, the attempt is over anyway.
    try:
        subprocess.run(
            [engine, "rm", "-f", container], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        logger.warning("cannot remove container %s: %s", container, error)


def _current_worker() -> Worker | None:
    """The Dask worker running this task, or None when called outside one (tests, tools)."""
    if "distributed" not in sys.modules:  # a Dask worker imported it long before; saves ~1 s
        return None
    from distributed import get_worker

    try:
        return get_worker()
    except ValueError:
        return None


def _announce_running(worker: Worker | None, spec: InstanceSpec, started_at: float) -> None:
    """Tell the controller the command is launched (STARTING → RUNNING)."""
    if worker is None:
        return
    message = {
        "key": spec.key,
        "state": "running",
        "node_id": str(worker.name),
        "started_at": started_at,
    }
    try:
        worker.log_event(EVENT_TOPIC, message)
    except Exception as error:  # a closing worker must not take the running command with it
        logger.warning("cannot announce %s as running: %s", spec.key, error)


def _result(
    spec: InstanceSpec, node_id: str, verdict: _Verdict, *, tails: tuple[bytes, bytes]
) -> InstanceResult:
    return InstanceResult(
        key=spec.key,
        node_id=node_id,
        exit_code=verdict.exit_code,
        reason=str(verdict.reason),
        detail=verdict.detail,
        started_at=verdict.started_at,
        ended_at=time.time(),
        stdout_tail=tails[0],
        stderr_tail=tails[1],
    )


def _tail(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - TAIL_BYTES))
            return file.read(TAIL_BYTES)
    except OSError:
        return b""
