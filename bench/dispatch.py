"""Dispatch benchmark: how fast batchd turns Batch API jobs into running shell commands.

One fresh `batchd serve` subprocess on its default store (SQLite in a fresh data directory, made
in the current directory as `batchd serve` makes its .batchd there; --data-parent moves it), one
compute environment of 2 nodes of 1 CPU (one Dask worker process each), and four measurements:

a. **many instances** - one job of one task with TaskInstanceNum 1000 (200 with --quick) running
   `true`; wall time from the SubmitJob call to DescribeJob answering SUCCEED (polled every
   50 ms), against `seq N | xargs -P2 -n1 true` run by this script on the same machine: the ratio
   batchd / xargs (goal <= 2.0) and instances/s. A job still running after 240 s (120 s with
   --quick) is reported as not finished, with the instances done so far, and terminated. Beside
   it, the time this script takes to make as many work dirs as the job needs (one new directory
   per instance, on the data dir's disk): every instance pays it and xargs does not, and it
   varies several-fold between disks and, on the virtual disk here, from minute to minute and
   from directory to directory (in /tmp, 3 to 10 times what it costs in the checkout).
b. **a real peer** - a single-node Slurm on loopback (/work/shared/peers/slurm-local.sh, tuned
   for throughput: batch_sched_delay=0, sched_min_interval=0, OverSubscribe=FORCE:8), an array
   job of 100 `true` tasks (`sbatch --array=0-99 --wrap true`, output to /dev/null), timed from
   sbatch to all 100 tasks final by `squeue -t all` polled every 50 ms; instances/s beside
   batchd's from (a). Slurm runs before the batchd server starts, so the two never share the CPUs.
   When Slurm cannot start, that is printed as "Slurm: unavailable (reason)".
c. **submit -> running on a warm environment** - the environment of (a), after its job ended: 50
   (20) one-instance jobs running `sleep 0.2`, submitted one at a time (each after the previous
   job is final); latency = SubmitJob call start -> the return of the first DescribeTask (polled
   every 10 ms) that shows the instance RUNNING or SUCCEED. p50 (goal <= 100 ms) and p90.
d. **SubmitJob throughput** - 8 client threads, one signed BatchClient each, submitting jobs of
   one instance running `true` to the same environment as fast as answers come back, for 10 s
   (3 s) after a 1 s warm-up; every answered SubmitJob is durable (SQLite WAL, synchronous=FULL).
   Calls/s (goal >= 300/s) and the p99 latency of one call (goal <= 50 ms). Then the server, with
   all that work still queued, is stopped: SIGTERM, and SIGKILL if it has not exited within 40 s.

For every phase it prints the CPU time used by the server process (utime + stime from
/proc/PID/stat), by its compute nodes (its descendants, children they reaped included) and by this
benchmark process, since all of them share the machine's CPUs; and the ERROR lines of the server's
log. The whole default run takes about 2 minutes on 2 cores (the first run also installs Slurm
with apt-get); no phase is unbounded: (a) stops at 240 s (+ 60 s for TerminateJob), (c) at 60 s,
(d) after 11 s, the stop after 40 s. Only 127.0.0.1 is contacted.

Usage: `.venv/bin/python bench/dispatch.py [--quick] [--slurm-script PATH] [--data-parent DIR]`.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from batchd.cli.batch_client import BatchApiError, BatchClient

# bench/ is sys.path[0] when a script runs and, having no __init__.py, mypy's root for its files:
# so the shared modules are imported by their plain names.
from jobs import (
    FINAL_JOB_STATES,
    JOB_POLL,
    NODE_CPU,
    NODES,
    create_env,
    instances_done,
    submit_job,
    wait_job,
)
from machine import REPO_ROOT
from processes import descendants, own_cpu, proc_stat, ticks_to_seconds
from report import percentile, print_closing, print_header, progress, table, verdict
from server import LEFTOVER_GRACE, Batchd, StopResult, exit_on_sigterm, launched, stop, wait_healthy

SLURM_SCRIPT = REPO_ROOT.parent / "shared" / "peers" / "slurm-local.sh"

# A leftover of an interrupted run is recognised by it (and ignored by git).
DATA_PREFIX = "batchd-bench-dispatch-"
CLIENTS = 8  # SubmitJob threads in (d)
SLURM_TASKS = 100
TASK_POLL = 0.01  # s between DescribeTask calls in (c)
PROGRESS_EVERY = 20.0  # s between progress lines in (a)
PHASE_A = "(a) many instances"
PHASE_D = "(d) SubmitJob load"
LATENCY_COMMAND = "sleep 0.2"
TERMINATE_WAIT = 60.0  # s an unfinished job of (a) may take to end after TerminateJob
LIVE_JOB_STATES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
SLURM_FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}

GOAL_XARGS_RATIO = 2.0  # batchd wall / xargs wall
GOAL_START_P50_MS = 100.0
GOAL_SUBMIT_RATE = 300.0  # SubmitJob/s
GOAL_SUBMIT_P99_MS = 50.0


# --- options --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    instances: int  # TaskInstanceNum of the job in (a)
    job_cap: float  # s after which (a) is reported as not finished
    latency_jobs: int  # one-instance jobs measured in (c)
    latency_cap: float  # s after which (c) stops submitting
    submit_warmup: float  # s of (d) before its window opens
    submit_seconds: float  # s the window of (d) stays open
    slurm_script: Path
    data_parent: Path  # where the server's fresh data directory is made


def parse_options(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short run: 200 instances, 20 latency jobs, 3 s of SubmitJob load",
    )
    parser.add_argument("--slurm-script", type=Path, default=SLURM_SCRIPT)
    parser.add_argument(
        "--data-parent",
        type=Path,
        default=Path.cwd(),
        help="where to make the server's fresh data directory (default: the current directory, "
        "where `batchd serve` keeps its .batchd by default)",
    )
    args = parser.parse_args(argv)
    script, parent = Path(args.slurm_script), Path(args.data_parent).resolve()
    if args.quick:
        return Options(200, 120.0, 20, 30.0, 1.0, 3.0, script, parent)
    return Options(1000, 240.0, 50, 60.0, 1.0, 10.0, script, parent)


# --- CPU accounting -------------------------------------------------------------------------


def tree_cpu(fields: list[str]) -> float:
    """utime + stime + cutime + cstime: a process's CPU and that of the children it reaped."""
    return ticks_to_seconds(sum(int(value) for value in fields[11:15]))


@dataclass(frozen=True, slots=True)
class CpuSample:
    wall: float
    server: float  # the server process itself
    nodes: float  # its descendants: the Dask worker processes and what they ran
    client: float  # this benchmark process

    def __sub__(self, other: CpuSample) -> CpuSample:
        return CpuSample(
            self.wall - other.wall,
            self.server - other.server,
            self.nodes - other.nodes,
            self.client - other.client,
        )


@dataclass(slots=True)
class CpuMeter:
    """Per-phase CPU of the server, its nodes and the benchmark, in the order phases ran."""

    pid: int
    phases: dict[str, CpuSample] = field(default_factory=dict)
    last_server: float = 0.0  # the latest reading of the server's own CPU
    # the latest reading of every descendant ever seen, by (pid, start time): a node that has
    # exited still counts with what it had used by the sample before
    last_nodes: dict[tuple[int, str], float] = field(default_factory=dict)

    def sample(self) -> CpuSample:
        fields = proc_stat(self.pid)
        if fields is not None:
            self.last_server = own_cpu(fields)
        for pid in descendants(self.pid):
            if (child := proc_stat(pid)) is not None:
                self.last_nodes[(pid, child[18])] = tree_cpu(child)
        nodes = sum(self.last_nodes.values())
        return CpuSample(time.monotonic(), self.last_server, nodes, time.process_time())

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        before = self.sample()
        try:
            yield
        finally:
            self.phases[name] = self.sample() - before


# --- batchd server --------------------------------------------------------------------------


@dataclass(slots=True)
class Server(Batchd):
    """The server subprocess with the meter of its CPU and its nodes' per phase."""

    cpu: CpuMeter


@contextlib.contextmanager
def batchd_server(data_dir: Path) -> Iterator[Server]:
    """`batchd serve` as a subprocess; always stopped on exit."""
    with launched(data_dir) as batchd:
        process = batchd.process
        server = Server(batchd.base_url, process, batchd.log_path, CpuMeter(process.pid))
        try:
            with server.cpu.phase("start (-> /healthz 200)"):
                wait_healthy(server)
            yield server
        finally:
            stop_server(server)


def stop_server(server: Server) -> StopResult:
    """stop(), reading the server's CPU until it has exited."""
    return stop(server.process, lambda timeout: wait_exit(server, timeout))


def wait_exit(server: Server, timeout: float) -> bool:
    """Wait for the server to exit, reading its CPU until it is a zombie (not yet reaped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fields = proc_stat(server.process.pid)
        if fields is None or fields[0] in ("Z", "X"):
            if fields is not None:
                server.cpu.last_server = own_cpu(fields)
            return True
        server.cpu.last_server = own_cpu(fields)
        time.sleep(0.05)
    return False


# --- (a) many instances ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ManyResult:
    instances: int
    seconds: float  # SubmitJob -> final, or until the cap
    state: str  # the job's last JobState
    done: int  # instances SUCCEED or FAILED at the end
    succeeded: int
    xargs_seconds: float
    env_free: bool  # the job was final when (a) ended, by itself or by TerminateJob
    work_dirs_seconds: float  # making the job's work dirs alone, on the data dir's disk

    @property
    def finished(self) -> bool:
        return self.state in FINAL_JOB_STATES

    @property
    def rate(self) -> float:
        return self.done / self.seconds

    @property
    def xargs_rate(self) -> float:
        return self.instances / self.xargs_seconds

    @property
    def ratio(self) -> float:
        return self.seconds / self.xargs_seconds if self.finished else math.inf


def xargs_seconds(instances: int) -> float:
    """Wall time of `seq N | xargs -P2 -n1 true`, the same work without a service."""
    command = f"seq {instances} | xargs -P{NODES} -n1 true"
    started = time.perf_counter()
    subprocess.run(["/bin/sh", "-c", command], check=True)
    return time.perf_counter() - started


def work_dirs_seconds(data_dir: Path, instances: int) -> float:
    """Wall time of making `instances` work dirs as batchd does (<Index>.<attempt>, one new
    directory each) in a scratch dir beside the server's data: a cost every instance pays and
    xargs does not, and one that varies a lot between disks.

    The scratch dir stays until the data dir goes: deleting many directories just before the
    job could slow its own (ext4 passes over inodes freed moments ago when it looks for one).
    """
    scratch = Path(tempfile.mkdtemp(prefix="work-dirs-", dir=data_dir))
    started = time.perf_counter()
    for index in range(instances):
        os.mkdir(scratch / f"{index}.1")
    return time.perf_counter() - started


def many_instances(server: Server, env_id: str, options: Options) -> ManyResult:
    baseline = xargs_seconds(options.instances)
    dirs = work_dirs_seconds(server.log_path.parent, options.instances)
    with contextlib.closing(server.batch()) as client:
        with server.cpu.phase(PHASE_A):
            started = time.perf_counter()
            job_id = submit_job(client, env_id, options.instances, "true")
            answer = wait_job(client, job_id, options.job_cap, progress_every=PROGRESS_EVERY)
            seconds = time.perf_counter() - started
        env_free = answer["JobState"] in FINAL_JOB_STATES or terminate(client, job_id)
    metrics = answer.get("TaskInstanceMetrics") or {}
    return ManyResult(
        options.instances,
        seconds,
        str(answer["JobState"]),
        instances_done(answer),
        int(metrics.get("SucceedCount", 0)),
        baseline,
        env_free,
        dirs,
    )


def terminate(client: BatchClient, job_id: str) -> bool:
    """End an unfinished job so that the environment is free for (c); True once it is final."""
    progress(f"(a) not finished: TerminateJob {job_id}")
    client.call("TerminateJob", {"JobId": job_id})
    answer = wait_job(client, job_id, TERMINATE_WAIT)
    progress(f"(a) after TerminateJob: {answer['JobState']}")
    return answer["JobState"] in FINAL_JOB_STATES


# --- (b) Slurm ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlurmResult:
    seconds: float  # sbatch -> all tasks final
    states: dict[str, int]  # final state -> tasks
    version: str

    @property
    def done(self) -> int:
        return sum(self.states.values())

    @property
    def rate(self) -> float:
        return self.done / self.seconds


def run_script(script: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def slurm_env(script: Path, state_dir: Path) -> dict[str, str]:
    """The environment with the SLURM_CONF that `slurm-local.sh env DIR` prints."""
    line = run_script(script, "env", str(state_dir), timeout=10).stdout.strip()
    name, _, value = line.removeprefix("export ").partition("=")
    if name != "SLURM_CONF" or not value:
        raise RuntimeError(f"unexpected output of slurm-local.sh env: {line!r}")
    return {**os.environ, "SLURM_CONF": shlex.split(value)[0]}


def start_slurm(script: Path, state_dir: Path) -> str | None:
    """Start Slurm under `state_dir`; None when it is up, else why it is not."""
    if not script.is_file():
        return f"no {script}"
    installed = shutil.which("slurmctld") is not None
    timeout = 90 if installed else 300  # the first run installs slurm-wlm with apt-get
    try:
        done = run_script(script, "start", str(state_dir), timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"slurm-local.sh start did not finish within {timeout} s; {log_hint(state_dir)}"
    if done.returncode == 0:
        return None
    if shutil.which("slurmctld") is None:
        return "no slurmctld even after slurm-local.sh start"
    detail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
    return f"slurm-local.sh start exited {done.returncode}: {detail[0]}; {log_hint(state_dir)}"


def log_hint(state_dir: Path) -> str:
    """The last error line of each Slurm/munge log (the logs go with the temporary directory)."""
    hints = []
    for log in sorted((state_dir / "log").glob("*.log")):
        with contextlib.suppress(OSError):
            errors = [line for line in log.read_text().splitlines() if "rror" in line]
            if errors:
                hints.append(f"{log.name}: {errors[-1].strip()}")
    return " | ".join(hints) or "no error in its logs"


def slurm_daemons(state_dir: Path) -> list[int]:
    """The pids in the daemons' pid files that still run a command naming `state_dir`."""
    pids = []
    for pid_file in (state_dir / "run").glob("*.pid"):
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().strip())
            if str(state_dir) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                pids.append(pid)
    return pids


def stop_slurm(script: Path, state_dir: Path) -> None:
    """`slurm-local.sh stop`; a daemon still there 10 s later (slurmd waiting on a dead munged
    ignores SIGTERM) is killed by its pid."""
    daemons = slurm_daemons(state_dir)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        run_script(script, "stop", str(state_dir), timeout=30)
    deadline = time.monotonic() + 10
    while (alive := [pid for pid in daemons if running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def running(pid: int) -> bool:
    fields = proc_stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def slurm_states(env: dict[str, str], job_id: str) -> list[str]:
    """The state of every record of the array job, final tasks included."""
    command = ["squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=10, check=True)
    return done.stdout.split()


def wait_slurm_array(env: dict[str, str], job_id: str, timeout: float) -> dict[str, int]:
    deadline = time.perf_counter() + timeout
    while True:
        states = slurm_states(env, job_id)
        final = Counter(state for state in states if state in SLURM_FINAL)
        if sum(final.values()) == SLURM_TASKS and len(states) == SLURM_TASKS:
            return dict(final)
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the Slurm array was not done after {timeout:g} s: {states}")
        time.sleep(JOB_POLL)


def slurm_array(env: dict[str, str]) -> SlurmResult:
    array = f"--array=0-{SLURM_TASKS - 1}"
    command = [
        "sbatch",
        "--parsable",
        array,
        "-o",
        "/dev/null",
        "-e",
        "/dev/null",
        "--wrap",
        "true",
    ]
    version = subprocess.run(
        ["sbatch", "--version"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    started = time.perf_counter()
    submitted = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    job_id = submitted.stdout.strip().split(";")[0]
    states = wait_slurm_array(env, job_id, timeout=120)
    return SlurmResult(time.perf_counter() - started, states, version)


def bench_slurm(script: Path) -> SlurmResult | str:
    """The Slurm array, or why Slurm was unavailable; Slurm is always stopped afterwards."""
    with tempfile.TemporaryDirectory(
        prefix="batchd-bench-slurm-", ignore_cleanup_errors=True
    ) as tmp:
        state_dir = Path(tmp)
        state_dir.chmod(0o755)  # munged wants execute permission for all on its socket's path
        try:
            progress("(b) Slurm: starting (slurm-local.sh; may apt-get install the first time)")
            reason = start_slurm(script, state_dir)
            if reason is not None:
                return reason
            progress(f"(b) Slurm: array of {SLURM_TASKS} `true`")
            return slurm_array(slurm_env(script, state_dir))
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            return f"{type(error).__name__}: {error}"
        finally:
            stop_slurm(script, state_dir)
            progress("(b) Slurm: stopped")


# --- (c) submit -> running ------------------------------------------------------------------


@dataclass(slots=True)
class StartLatency:
    latencies_ms: list[float] = field(default_factory=list)
    submitted: int = 0
    missed: int = 0  # jobs whose instance was not seen running within the per-job timeout
    seconds: float = 0.0
    skipped: str = ""  # why (c) did not run


def first_running_ms(client: BatchClient, env_id: str, timeout: float = 10.0) -> float | None:
    """SubmitJob -> the first DescribeTask that shows the instance RUNNING or SUCCEED, in ms."""
    started = time.perf_counter()
    job_id = submit_job(client, env_id, 1, LATENCY_COMMAND)
    params = {"JobId": job_id, "TaskName": "t", "Limit": 1}
    while time.perf_counter() - started < timeout:
        instances = client.call("DescribeTask", params)["TaskInstanceSet"]
        state = instances[0]["TaskInstanceState"] if instances else ""
        if state in ("RUNNING", "SUCCEED"):
            elapsed = (time.perf_counter() - started) * 1000
            wait_job(client, job_id, timeout)
            return elapsed
        if state == "FAILED":
            raise RuntimeError(f"latency job {job_id} failed: {instances[0]}")
        time.sleep(TASK_POLL)
    wait_job(client, job_id, timeout)
    return None


def start_latency(server: Server, env_id: str, options: Options) -> StartLatency:
    result = StartLatency()
    started = time.perf_counter()
    deadline = started + options.latency_cap
    with contextlib.closing(server.batch()) as client, server.cpu.phase("(c) submit -> running"):
        while result.submitted < options.latency_jobs and time.perf_counter() < deadline:
            result.submitted += 1
            latency = first_running_ms(client, env_id)
            if latency is None:
                result.missed += 1
            else:
                result.latencies_ms.append(latency)
    result.seconds = time.perf_counter() - started
    return result


# --- (d) SubmitJob throughput ---------------------------------------------------------------


@dataclass(slots=True)
class Submitters:
    """The client threads' shared state: (end time, latency s) of every answered call."""

    calls: list[list[tuple[float, float]]]
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)


def submit_loop(crew: Submitters, index: int, server: Server, env_id: str) -> None:
    calls = crew.calls[index]
    with contextlib.closing(server.batch()) as client:
        while not crew.stop.is_set():
            started = time.perf_counter()
            try:
                submit_job(client, env_id, 1, "true")
            except (BatchApiError, httpx.HTTPError) as error:
                crew.errors.append(error)
                continue
            ended = time.perf_counter()
            calls.append((ended, ended - started))


@dataclass(frozen=True, slots=True)
class Window:
    """What the submitters got answered while the measurement window was open."""

    latencies_ms: list[float]  # of the calls answered inside the window
    seconds: float
    answered: int  # all answered calls, warm-up and stragglers included
    errors: list[BaseException]

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds


@dataclass(frozen=True, slots=True)
class SubmitLoad:
    window: Window
    live_jobs: int | None  # jobs not final when the window closed
    stop: StopResult


def run_submitters(server: Server, env_id: str, options: Options) -> Window:
    crew = Submitters(calls=[[] for _ in range(CLIENTS)])
    threads = [
        threading.Thread(target=submit_loop, args=(crew, i, server, env_id), daemon=True)
        for i in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(options.submit_warmup)
        opened = time.perf_counter()
        time.sleep(options.submit_seconds)
        closed = time.perf_counter()
    finally:
        crew.stop.set()
        for thread in threads:
            thread.join(timeout=35)
    answered = [call for calls in crew.calls for call in calls]
    inside = [latency * 1000 for end, latency in answered if opened <= end <= closed]
    return Window(inside, closed - opened, len(answered), crew.errors)


def live_jobs(client: BatchClient) -> int | None:
    """How many jobs are not final yet (None when the server could not say)."""
    flt = {"Name": "job-state", "Values": list(LIVE_JOB_STATES)}
    try:
        return int(client.call("DescribeJobs", {"Filters": [flt], "Limit": 1})["TotalCount"])
    except (BatchApiError, httpx.HTTPError):
        return None


def submit_load(server: Server, env_id: str, options: Options) -> SubmitLoad:
    with server.cpu.phase(PHASE_D):
        window = run_submitters(server, env_id, options)
    with contextlib.closing(server.batch()) as client:
        live = live_jobs(client)
    progress(f"(d) stopping the server ({live} jobs not final): SIGTERM, SIGKILL after 40 s")
    with server.cpu.phase("stop (SIGTERM -> exit)"):
        stopped = stop_server(server)
    progress(f"(d) server stopped in {stopped.seconds:.1f} s")
    return SubmitLoad(window, live, stopped)


# --- one run --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Results:
    many: ManyResult
    slurm: SlurmResult | str
    latency: StartLatency
    load: SubmitLoad
    cpu: dict[str, CpuSample]
    log_errors: list[str]  # the ERROR lines of the server's log


def error_lines(log_path: Path) -> list[str]:
    """Each ERROR line of the server's log, with the last line of the traceback under it."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    starts = [i for i, line in enumerate(lines) if " ERROR " in line]
    found = []
    for i in starts:
        after = list(itertools.takewhile(lambda line: not line[:4].isdigit(), lines[i + 1 :]))
        cause = after[-1].strip() if after else ""
        found.append(f"{lines[i]}{': ' + cause if cause else ''}")
    return found


def bench_batchd(options: Options, slurm: SlurmResult | str) -> Results:
    with tempfile.TemporaryDirectory(prefix=DATA_PREFIX, dir=options.data_parent) as tmp:
        progress(
            f"starting the batchd server (SQLite, fresh data directory in {options.data_parent})"
        )
        with batchd_server(Path(tmp)) as server:
            env_id = warm_env(server)
            progress(f"(a) one task of {options.instances} instances of `true`, and xargs -P2")
            many = many_instances(server, env_id, options)
            progress(f"(a) {many.state} in {many.seconds:.1f} s ({many.done} instances done)")
            latency = measure_start_latency(server, env_id, options, many)
            progress(f"(d) SubmitJob from {CLIENTS} clients for {options.submit_seconds:g} s")
            load = submit_load(server, env_id, options)
        errors = error_lines(server.log_path)
        return Results(many, slurm, latency, load, server.cpu.phases, errors)


def measure_start_latency(
    server: Server, env_id: str, options: Options, many: ManyResult
) -> StartLatency:
    if not many.env_free:
        reason = f"the job of (a) was not final {TERMINATE_WAIT:g} s after TerminateJob"
        progress(f"(c) skipped: {reason}")
        return StartLatency(skipped=reason)
    progress(f"(c) {options.latency_jobs} one-instance jobs, one at a time")
    return start_latency(server, env_id, options)


def warm_env(server: Server) -> str:
    progress(f"creating an environment of {NODES} nodes of {NODE_CPU} CPU")
    with contextlib.closing(server.batch()) as client, server.cpu.phase("environment -> RUNNING"):
        env_id = create_env(client)
    return env_id


# --- report ---------------------------------------------------------------------------------


def many_rows(many: ManyResult) -> list[list[str]]:
    n = f"{many.instances:,}"
    if many.finished:
        ratio = f"{many.ratio:.1f}x {verdict(many.ratio <= GOAL_XARGS_RATIO)}"
    else:
        ratio = f"not finished in {many.seconds:.0f} s MISS"
    return [
        [f"(a) {n} x `true`, wall batchd / xargs -P2", f"<= {GOAL_XARGS_RATIO:g}x", ratio],
        [f"(a) batchd instances/s ({n} instances)", "", f"{many.rate:,.1f}/s"],
        [f"(a) xargs -P2 instances/s ({n})", "", f"{many.xargs_rate:,.0f}/s"],
    ]


def slurm_rows(slurm: SlurmResult | str, many: ManyResult) -> list[list[str]]:
    if isinstance(slurm, str):
        return [["(b) Slurm", "", "unavailable"]]
    label = f"(b) Slurm instances/s (array of {SLURM_TASKS})"
    ratio = f"{many.rate / slurm.rate:.2f}x"
    return [
        [label, "", f"{slurm.rate:,.1f}/s"],
        [f"(b) batchd ({many.instances:,}) / Slurm ({SLURM_TASKS}) instances/s", "", ratio],
    ]


def latency_rows(latency: StartLatency) -> list[list[str]]:
    if latency.skipped:
        return [["(c) SubmitJob -> RUNNING, warm env", "", "skipped"]]
    p50, p90 = percentile(latency.latencies_ms, 50), percentile(latency.latencies_ms, 90)
    return [
        [
            "(c) SubmitJob -> RUNNING, warm env, p50",
            f"<= {GOAL_START_P50_MS:.0f} ms",
            f"{p50:,.0f} ms {verdict(p50 <= GOAL_START_P50_MS)}",
        ],
        ["(c) SubmitJob -> RUNNING, warm env, p90", "", f"{p90:,.0f} ms"],
    ]


def load_rows(load: SubmitLoad) -> list[list[str]]:
    window = load.window
    p99 = percentile(window.latencies_ms, 99)
    return [
        [
            f"(d) SubmitJob/s, {CLIENTS} clients, durable",
            f">= {GOAL_SUBMIT_RATE:.0f}/s",
            f"{window.rate:,.0f}/s {verdict(window.rate >= GOAL_SUBMIT_RATE)}",
        ],
        [
            "(d) SubmitJob call latency p99",
            f"<= {GOAL_SUBMIT_P99_MS:.0f} ms",
            f"{p99:,.1f} ms {verdict(p99 <= GOAL_SUBMIT_P99_MS)}",
        ],
    ]


def goal_table(results: Results) -> list[str]:
    rows = [
        *many_rows(results.many),
        *slurm_rows(results.slurm, results.many),
        *latency_rows(results.latency),
        *load_rows(results.load),
    ]
    return table(["metric", "goal", "batchd"], rows)


def per_unit(usage: CpuSample | None, units: int) -> str:
    """CPU ms per unit of work of the server and of its nodes."""
    if usage is None or units <= 0:
        return "CPU per unit: unknown"
    server, nodes = usage.server * 1000 / units, usage.nodes * 1000 / units
    return f"server {server:.1f} ms CPU, nodes {nodes:.1f} ms CPU"


def many_detail(many: ManyResult, usage: CpuSample | None) -> list[str]:
    lines = [
        f"(a) job {many.state} after {many.seconds:.2f} s: {many.done:,}/{many.instances:,} "
        f"instances final ({many.succeeded:,} SUCCEED); DescribeJob polled every "
        f"{JOB_POLL * 1000:.0f} ms; `seq {many.instances} | xargs -P{NODES} -n1 true` took "
        f"{many.xargs_seconds * 1000:.0f} ms",
        f"    per instance: {per_unit(usage, many.done)}",
        f"    the disk: making the {many.instances:,} work dirs alone (1 mkdir each, one process) "
        f"took {many.work_dirs_seconds * 1000:.0f} ms here, "
        f"{many.work_dirs_seconds / many.instances * 1000:.2f} ms per instance",
    ]
    if not many.env_free:
        lines.append(
            f"    TerminateJob did not end it within {TERMINATE_WAIT:g} s: (c) was skipped, and (d)"
            " ran beside a job that never ended"
        )
    return lines


def slurm_detail(slurm: SlurmResult | str) -> list[str]:
    if isinstance(slurm, str):
        return [f"Slurm: unavailable ({slurm})"]
    states = ", ".join(f"{count} {state}" for state, count in sorted(slurm.states.items()))
    return [
        f"(b) {slurm.version}, single node on loopback, batch_sched_delay=0, "
        f"sched_min_interval=0, OverSubscribe=FORCE:8:",
        f"    array of {SLURM_TASKS} `true` (sbatch --array=0-{SLURM_TASKS - 1} --wrap true) "
        f"done in {slurm.seconds:.2f} s ({states}); an array of {SLURM_TASKS} there, "
        f"{SLURM_TASKS} tasks vs batchd's one job of many instances here",
    ]


def latency_detail(latency: StartLatency) -> list[str]:
    if latency.skipped:
        return [f"(c) skipped: {latency.skipped}"]
    values = latency.latencies_ms
    low, high = min(values, default=math.nan), max(values, default=math.nan)
    return [
        f"(c) {len(values)}/{latency.submitted} jobs seen running (missed {latency.missed}) in "
        f"{latency.seconds:.1f} s; `{LATENCY_COMMAND}`, DescribeTask every "
        f"{TASK_POLL * 1000:.0f} ms; min {low:,.0f} ms, max {high:,.0f} ms",
    ]


def load_detail(load: SubmitLoad, usage: CpuSample | None) -> list[str]:
    window, stop = load.window, load.stop
    values = window.latencies_ms
    how = "SIGKILL after 40 s" if stop.killed else "SIGTERM"
    live = "?" if load.live_jobs is None else f"{load.live_jobs:,}"
    lines = [
        f"(d) {len(values):,} SubmitJob answered in {window.seconds:.2f} s "
        f"({window.answered:,} with the warm-up); p50 {percentile(values, 50):,.1f} ms, "
        f"max {max(values, default=math.nan):,.1f} ms; errors {len(window.errors)}",
        f"    per SubmitJob, warm-up included: {per_unit(usage, window.answered)} "
        "(the nodes run the submitted jobs meanwhile)",
        f"    then {live} jobs not final; server stopped by {how} in {stop.seconds:.1f} s "
        f"(exit code {stop.exit_code}); {len(stop.outlived)} of its descendants outlived it, "
        f"{len(stop.leftovers)} still there {LEFTOVER_GRACE:g} s later (killed)",
        *(f"      outlived it: {line}" for line in stop.outlived),
        *(f"      killed: {line}" for line in stop.leftovers),
    ]
    if window.errors:
        lines.append(f"    first error: {window.errors[0]!r}")
    return lines


def cpu_table(phases: dict[str, CpuSample]) -> list[str]:
    rows = [
        [
            name,
            f"{usage.wall:.1f} s",
            f"{usage.server:.2f} s",
            f"{usage.nodes:.2f} s",
            f"{usage.client:.2f} s",
            f"{usage.server / usage.wall:.2f}" if usage.wall > 0 else "-",
        ]
        for name, usage in phases.items()
    ]
    headers = ["phase", "wall", "server CPU", "nodes CPU", "bench CPU", "server cores"]
    return table(headers, rows)


def log_detail(errors: Sequence[str]) -> list[str]:
    """The server's ERROR lines, grouped once timestamps, ids and numbers are masked."""
    if not errors:
        return ["server log: no ERROR line"]
    groups = Counter(re.sub(r"\S*\d\S*", "#", line.split(" ERROR ", 1)[1]) for line in errors)
    return [
        f"server log: {len(errors)} ERROR lines:",
        *(f"    {count} x {message}" for message, count in groups.most_common(3)),
    ]


def report(options: Options, results: Results) -> None:
    print()
    print(
        f"Results: SQLite (default store), an environment of {NODES} nodes of {NODE_CPU} CPU; "
        f"{options.instances:,} instances in (a), {options.latency_jobs} jobs in (c), "
        f"{options.submit_seconds:g} s of load in (d); data directory in {options.data_parent}"
    )
    print()
    sections = [
        goal_table(results),
        [
            *many_detail(results.many, results.cpu.get(PHASE_A)),
            *slurm_detail(results.slurm),
            *latency_detail(results.latency),
            *load_detail(results.load, results.cpu.get(PHASE_D)),
            *log_detail(results.log_errors),
        ],
        [
            "CPU per phase (server: the batchd process; nodes: its Dask worker processes, each"
            " counted up to the last sample that saw it alive):"
        ],
        cpu_table(results.cpu),
    ]
    for section in sections:
        for line in section:
            print(line)
        print()


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(sys.argv[1:] if argv is None else argv)
    exit_on_sigterm()
    print_header("batchd dispatch benchmark")
    slurm = bench_slurm(options.slurm_script)
    if isinstance(slurm, str):
        progress(f"Slurm: unavailable ({slurm})")
    results = bench_batchd(options, slurm)
    report(options, results)
    print_closing()
    return 0


if __name__ == "__main__":
    sys.exit(main())
