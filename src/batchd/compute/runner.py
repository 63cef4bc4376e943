"""The worker-side runner: one task-instance attempt on a compute node (packed with others of its
task into one Dask task when the backlog is deep, see pack.py).

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
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import IO, TYPE_CHECKING, Any

from batchd.compute import container, isolation, registry, report, staging
from batchd.compute.instance import InstanceResult, InstanceSpec, Reason
from batchd.compute.logs import TAIL_BYTES, LazyLog
from batchd.compute.process import Attempt

if TYPE_CHECKING:
    from distributed import Worker

__all__ = [
    "EVENT_TOPIC",
    "InstanceResult",
    "InstanceSpec",
    "Reason",
    "batch_variables",
    "kill_instance",
    "read_tails",
    "run_instance",
    "run_unless_stopped",
]

EVENT_TOPIC = report.TOPIC  # worker.log_event topic of the announcements of starts and ends
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"


@dataclass(frozen=True, slots=True)
class _Verdict:
    exit_code: int | None
    reason: str
    detail: str
    started_at: float | None = None


def run_instance(spec: InstanceSpec) -> InstanceResult:
    """Run one attempt to its end and report it."""
    outcome = run_unless_stopped(spec)
    if isinstance(outcome, InstanceResult):
        return outcome
    node_id = spec.node_id or _worker_name(current_worker())
    verdict = _Verdict(None, outcome, _stop_detail(spec, outcome))
    return _result(spec, node_id, verdict, tails=(b"", b""))


def run_unless_stopped(
    spec: InstanceSpec, send: Callable[[dict[str, Any]], None] | None = None
) -> InstanceResult | str:
    """Run one attempt to its end; or, if it was stopped before it started, only the reason.

    When it runs in a Dask worker and its command runs for more than a moment, its launch is
    announced: by `send` when given, else on EVENT_TOPIC at once.
    """
    worker = current_worker()
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
        engine, problem = container.engine_for(spec)
        if engine is None:
            verdict = _Verdict(None, Reason.DOCKER_UNAVAILABLE, problem)
            return _result(spec, node_id, verdict, tails=(b"", b""))
    attempt = registry.claim(spec.key)
    if isinstance(attempt, str):
        return attempt
    try:
        announce = partial(_announce_running, worker, spec, send)
        verdict, tails = _run(spec, attempt, engine, announce)
    finally:
        registry.release(spec.key)
    return _result(spec, node_id, verdict, tails=tails)


def kill_instance(key: str, reason: str = "TERMINATED_BY_USER") -> bool:
    """Stop attempt `key` in this process; False if it is not running here.

    Meant for ``client.run(kill_instance, key, workers=[address])``. It returns at once: the
    group gets SIGTERM now, and the runner thread sends SIGKILL after a short grace, so the whole
    group is gone within 2 s and `run_instance` returns with `reason`.
    """
    return registry.kill(key, reason)


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
) -> tuple[_Verdict, tuple[bytes, bytes]]:
    """The verdict of the attempt, and the tails of its stdout and stderr."""
    work_dir = spec.work_dir
    try:
        os.makedirs(work_dir, exist_ok=True)
    except OSError as error:
        detail = f"cannot create the work dir {work_dir}: {error}"
        return _Verdict(None, Reason.INPUT_MAPPING_FAILED, detail), (b"", b"")
    with (
        contextlib.closing(LazyLog(os.path.join(work_dir, STDOUT_FILE))) as out,
        contextlib.closing(LazyLog(os.path.join(work_dir, STDERR_FILE))) as err,
    ):
        verdict = _stage_in(spec)
        # A container engine isolates its commands itself (and needs the node's own rights).
        uid = isolation.command_id(spec.isolate and engine is None)
        if verdict is None and uid is not None:
            verdict = _hand_over(work_dir, uid)
        if verdict is None:
            try:
                verdict = _execute(spec, attempt, engine, announce, out, err, uid)
            finally:
                if uid is not None:
                    with contextlib.suppress(OSError):
                        isolation.take_back(work_dir)
        try:
            # A redirect copies the file even when the command printed nothing.
            if spec.stdout_redirect or spec.stdout_local:
                out.materialize()
            if spec.stderr_redirect or spec.stderr_local:
                err.materialize()
            tails = out.tail(), err.tail()
        except OSError as error:
            detail = f"cannot write the logs in {work_dir}: {error}"
            return _Verdict(verdict.exit_code, Reason.OUTPUT_MAPPING_FAILED, detail), (b"", b"")
    if verdict.reason == "":
        try:
            for source, destination in spec.output_mappings:
                staging.stage_out(source, destination, work_dir)
        except staging.StagingError as error:
            verdict = _Verdict(0, Reason.OUTPUT_MAPPING_FAILED, str(error), verdict.started_at)
    return _copy_redirects(spec, verdict), tails


def _hand_over(work_dir: str, uid: int) -> _Verdict | None:
    """Give the work dir to the command's user id; a failure verdict, or None when done."""
    try:
        isolation.hand_over(work_dir, uid)
    except OSError as error:
        detail = f"cannot give the work dir {work_dir} to the command's user id: {error}"
        return _Verdict(None, Reason.INPUT_MAPPING_FAILED, detail)
    return None


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
    out: LazyLog,
    err: LazyLog,
    uid: int | None = None,
) -> _Verdict:
    env = _environment(spec)
    if uid is not None:
        env["HOME"] = spec.work_dir  # the node's own home is not the command's to read
    commands = (spec.command,) if spec.command is not None else spec.commands
    deadline = time.monotonic() + spec.timeout_seconds  # Timeout counts from RUNNING
    started_at: float | None = None
    announced = False

    def announce_once(launched_at: float) -> None:
        # Whichever command runs long enough announces the attempt, with its first launch.
        nonlocal announced
        if not announced:
            announced = True
            announce(started_at if started_at is not None else launched_at)

    for number, command in enumerate(commands):
        name = container.name_for(spec.key, number)
        launch: str | list[str] = command
        if engine is not None:
            launch = container.run_argv(spec, engine, name, env, command, [*batch_variables(spec)])
        outcome = attempt.run(
            launch,
            cwd=spec.work_dir,
            env=env,
            stdout=out,
            stderr=err,
            deadline=deadline,
            on_start=announce_once,
            user=uid,
        )
        started_at = started_at if started_at is not None else outcome.started_at
        if outcome.stopped_by is not None:
            if engine is not None and outcome.started_at is not None:
                container.remove(engine, name)
            return _Verdict(
                None, outcome.stopped_by, _stop_detail(spec, outcome.stopped_by), started_at
            )
        code = outcome.returncode
        if code != 0:
            return _exit_verdict(code, started_at)
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
        (STDOUT_FILE, spec.stdout_local),  # RedirectLocalInfo: a path on this node's disk
        (STDERR_FILE, spec.stderr_local),
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


SERVER_VARIABLES = "BATCHD_"  # batchd's own settings: its secret key, its database URL


def _environment(spec: InstanceSpec) -> dict[str, str]:
    batch = batch_variables(spec)
    # The worker's own environment (PATH, HOME, ...) is the node's environment for commands,
    # but for batchd's settings, which the workers inherit from the server: no command may
    # read the API's secret key or the database's password.
    env = {k: v for k, v in os.environ.items() if not k.startswith(SERVER_VARIABLES)}
    env.update(batch)
    env.update((name, value) for name, value in spec.env_vars if name not in batch)
    return env


def current_worker() -> Worker | None:
    """The Dask worker running this task, or None when called outside one (tests, tools)."""
    if "distributed" not in sys.modules:  # a Dask worker imported it long before; saves ~1 s
        return None
    from distributed import get_worker

    try:
        return get_worker()
    except ValueError:
        return None


def _worker_name(worker: Worker | None) -> str:
    return "" if worker is None else str(worker.name)


def _announce_running(
    worker: Worker | None,
    spec: InstanceSpec,
    send: Callable[[dict[str, Any]], None] | None,
    started_at: float,
) -> None:
    """Tell the controller the command is launched (STARTING → RUNNING)."""
    if worker is None:
        return
    message = report.running(spec.key, str(worker.name), started_at)
    if send is not None:
        send(message)
    else:
        report.send(worker, message)


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
            return _tail_of(file)
    except OSError:
        return b""


def _tail_of(file: IO[bytes]) -> bytes:
    try:
        size = file.seek(0, os.SEEK_END)
        file.seek(max(0, size - TAIL_BYTES))
        return file.read(TAIL_BYTES)
    except OSError:
        return b""
