"""Dispatch benchmark: how fast batchd turns Batch API jobs into running shell commands.

On each store chosen by --db (SQLite, PostgreSQL, or both, SQLite first), a fresh `batchd serve`
subprocess: on SQLite its default store, in a fresh data directory; on PostgreSQL the same with
`--database-url` naming a fresh database on 127.0.0.1:5432 (trust auth), dropped afterwards. The
data directory is made in the current directory, as `batchd serve` makes its .batchd there
(--data-parent moves it). Each server gets one compute environment of 2 nodes of 1 CPU (one Dask
worker process each) and runs (a), (c) and (d) below, in that order; (b) runs once, before the
first server. Every figure is printed per store, beside its goal with its ratio or verdict:

a. **many instances** - one job of one task with TaskInstanceNum 1000 (200 with --quick) running
   `true`; wall time from the SubmitJob call to DescribeJob answering SUCCEED (polled every
   50 ms), against `seq N | xargs -P2 -n1 true` run by this script on the same machine once per
   store, just before that store's job, so that the two ran moments apart: the ratio
   batchd / xargs (goal <= 1.5) and instances/s. A job still running after 240 s (120 s with
   --quick) is reported as not finished, with the instances done so far, and terminated. Before
   xargs, the time this script takes to make as many work dirs as the job needs (one new
   directory per instance, on the data dir's disk): every instance pays it and xargs does not,
   and it varies several-fold between disks and, on the virtual disk here, from minute to minute
   and from directory to directory (in /tmp, 3 to 10 times what it costs in the checkout).
b. **a real peer** - a single-node Slurm on loopback (/work/shared/peers/slurm-local.sh, tuned
   for throughput: batch_sched_delay=0, sched_min_interval=0, OverSubscribe=FORCE:8), an array
   job of 100 `true` tasks (`sbatch --array=0-99 --wrap true`, output to /dev/null), timed from
   sbatch to all 100 tasks final by `squeue -t all` polled every 50 ms; instances/s, and batchd's
   from (a) on each store as a ratio to it. Slurm runs once, before any batchd server starts, so
   the two never share the CPUs. When Slurm cannot start, that is printed as
   "Slurm: unavailable (reason)".
c. **submit -> running on a warm environment** - the environment of (a), after its job ended: 50
   (20) one-instance jobs running `sleep 0.2`, submitted one at a time (each after the previous
   job is final); latency = SubmitJob call start -> the return of the first DescribeTask (polled
   every 10 ms) that shows the instance RUNNING or SUCCEED. p50 (goal <= 100 ms) and p90.
d. **SubmitJob throughput** - 8 client threads, one signed BatchClient each, submitting jobs of
   one instance running `true` to the same environment as fast as answers come back, for 10 s
   (3 s) after a 1 s warm-up; every answered SubmitJob is durable (SQLite: WAL,
   synchronous=FULL; PostgreSQL: committed with synchronous_commit as the database server has it,
   `on` by default, printed with its version). Calls/s (goal >= 1,000/s) and the p99 latency of
   one call (goal <= 20 ms). Then the server, with all that work still queued, is stopped:
   SIGTERM, and SIGKILL if it has not exited within 40 s.

For every phase it prints the CPU time used by the server process (utime + stime from
/proc/PID/stat), by its compute nodes (its descendants, children they reaped included), on
PostgreSQL by the database's backends serving the server's database (the pids pg_stat_activity
lists for it; on SQLite that work is the server process's own) and by this benchmark process,
since all of them share the machine's CPUs; and the ERROR lines of the server's log. The load
average is printed at the start and at the end. The whole default run, both stores, takes about
1.5 minutes on 2 cores (the first run also installs Slurm with apt-get); no phase is unbounded:
per store, (a) stops at 240 s (+ 60 s for TerminateJob), (c) at 60 s, (d) after 11 s, the stop
after 40 s. Only 127.0.0.1 is contacted; when PostgreSQL is chosen but not reachable there, the
run stops before it starts anything, saying so. With --profile, py-spy samples the server during
(d), and the time it held the interpreter is printed by layer, with the design change that would
take a large share away (`make bench` asks for it).

Usage: `.venv/bin/python bench/dispatch.py [--quick] [--db sqlite|postgresql|both]
[--slurm-script PATH] [--data-parent DIR] [--profile]`.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

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
from server import (
    LEFTOVER_GRACE,
    PG_ADMIN_URL,
    Batchd,
    StopResult,
    exit_on_sigterm,
    launched,
    postgres_database,
    stop,
    wait_healthy,
)
from server_profile import Profile, Recording, available, profile_lines, record

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

STORES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}  # --db value -> the name printed
PG_SERVER = f"{make_url(PG_ADMIN_URL).host}:{make_url(PG_ADMIN_URL).port}"

# The goals of issue #16.
GOAL_XARGS_RATIO = 1.5  # batchd wall / xargs wall
GOAL_START_P50_MS = 100.0
GOAL_SUBMIT_RATE = 1_000.0  # SubmitJob/s
GOAL_SUBMIT_P99_MS = 20.0


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
    data_parent: Path  # where each server's fresh data directory is made
    stores: tuple[str, ...]  # keys of STORES, in the order they run
    profile: bool  # profile the server during (d) (py-spy)


def parse_options(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short run: 200 instances, 20 latency jobs, 3 s of SubmitJob load",
    )
    parser.add_argument(
        "--db",
        choices=[*STORES, "both"],
        default="both",
        help="the store(s) on which (a), (c) and (d) run, each with a fresh server "
        "(default: both, SQLite first)",
    )
    parser.add_argument("--slurm-script", type=Path, default=SLURM_SCRIPT)
    parser.add_argument(
        "--data-parent",
        type=Path,
        default=Path.cwd(),
        help="where to make each server's fresh data directory (default: the current directory, "
        "where `batchd serve` keeps its .batchd by default)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the server during (d) (py-spy), and print by layer where its time goes",
    )
    args = parser.parse_args(argv)
    script, parent = Path(args.slurm_script), Path(args.data_parent).resolve()
    stores = tuple(STORES) if args.db == "both" else (str(args.db),)
    if args.quick:
        return Options(200, 120.0, 20, 30.0, 1.0, 3.0, script, parent, stores, args.profile)
    return Options(1000, 240.0, 50, 60.0, 1.0, 10.0, script, parent, stores, args.profile)


# --- CPU accounting -------------------------------------------------------------------------


def tree_cpu(fields: list[str]) -> float:
    """utime + stime + cutime + cstime: a process's CPU and that of the children it reaped."""
    return ticks_to_seconds(sum(int(value) for value in fields[11:15]))


@dataclass(frozen=True, slots=True)
class CpuSample:
    wall: float
    server: float  # the server process itself
    nodes: float  # its descendants: the Dask worker processes and what they ran
    database: float  # PostgreSQL's backends serving the server's database (0 on SQLite)
    client: float  # this benchmark process

    def __sub__(self, other: CpuSample) -> CpuSample:
        return CpuSample(
            self.wall - other.wall,
            self.server - other.server,
            self.nodes - other.nodes,
            self.database - other.database,
            self.client - other.client,
        )


def no_backends() -> list[int]:
    """SQLite's: none, its work is the server process's own."""
    return []


def latest_cpu(
    pids: Sequence[int], cpu: Callable[[list[str]], float], last: dict[tuple[int, str], float]
) -> float:
    """Note the CPU of each of `pids` in `last`, by (pid, start time), and sum all of `last`: a
    process that has exited still counts with what it had used by the sample before."""
    for pid in pids:
        if (fields := proc_stat(pid)) is not None:
            last[(pid, fields[18])] = cpu(fields)
    return sum(last.values())


@dataclass(slots=True)
class CpuMeter:
    """Per-phase CPU of the server, its nodes, its database's backends and the benchmark, in
    the order phases ran."""

    pid: int
    backends: Callable[[], list[int]] = no_backends  # pids of the database's backends
    phases: dict[str, CpuSample] = field(default_factory=dict)
    last_server: float = 0.0  # the latest reading of the server's own CPU
    # the latest reading of every descendant and backend ever seen
    last_nodes: dict[tuple[int, str], float] = field(default_factory=dict)
    last_backends: dict[tuple[int, str], float] = field(default_factory=dict)

    def sample(self) -> CpuSample:
        fields = proc_stat(self.pid)
        if fields is not None:
            self.last_server = own_cpu(fields)
        nodes = latest_cpu(descendants(self.pid), tree_cpu, self.last_nodes)
        database = latest_cpu(self.backends(), own_cpu, self.last_backends)
        return CpuSample(time.monotonic(), self.last_server, nodes, database, time.process_time())

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


@dataclass(frozen=True, slots=True)
class Store:
    """Where one server keeps its state."""

    kind: str  # a key of STORES
    url: str | None  # its --database-url; None: the default store, SQLite in the data directory
    backends: Callable[[], list[int]]  # pids of the database server's processes serving it


@contextlib.contextmanager
def fresh_store(kind: str) -> Iterator[Store]:
    """SQLite in the server's fresh data directory, or a fresh PostgreSQL database (dropped
    afterwards, once the server has stopped)."""
    if kind == "sqlite":
        yield Store(kind, None, no_backends)
        return
    with postgres_database() as url:
        database = str(make_url(url).database)
        admin = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 5})
        try:
            yield Store(kind, url, lambda: backend_pids(admin, database))
        finally:
            admin.dispose()


def backend_pids(admin: Engine, database: str) -> list[int]:
    """The PostgreSQL backends connected to `database` (none when PostgreSQL cannot say)."""
    query = text("SELECT pid FROM pg_stat_activity WHERE datname = :name")
    try:
        with admin.connect() as conn:
            return [int(pid) for (pid,) in conn.execute(query, {"name": database})]
    except SQLAlchemyError:
        return []


def postgres_facts() -> str:
    """The version and synchronous_commit of the PostgreSQL server that PG_ADMIN_URL reaches;
    SQLAlchemyError when it cannot be reached."""
    admin = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
            synchronous = conn.execute(text("SHOW synchronous_commit")).scalar_one()
    finally:
        admin.dispose()
    return f"{version}, synchronous_commit={synchronous}"


@contextlib.contextmanager
def batchd_server(data_dir: Path, store: Store) -> Iterator[Server]:
    """`batchd serve` on `store` as a subprocess; always stopped on exit."""
    with launched(data_dir, store.url) as batchd:
        process = batchd.process
        meter = CpuMeter(process.pid, store.backends)
        server = Server(batchd.base_url, process, batchd.log_path, meter)
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
    xargs_cpu: float  # CPU seconds of xargs and the commands it ran
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


def xargs_run(instances: int) -> tuple[float, float]:
    """Wall time and CPU (its own and its children's) of `seq N | xargs -P2 -n1 true`, the same
    work without a service."""
    command = f"seq {instances} | xargs -P{NODES} -n1 true"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(["/bin/sh", "-c", command], check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


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
    # xargs last, just before the job: the ratio compares two runs made moments apart
    dirs = work_dirs_seconds(server.log_path.parent, options.instances)
    baseline, baseline_cpu = xargs_run(options.instances)
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
        baseline_cpu,
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
    profile: Profile | str | None  # None: not asked for; str: why there is none


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
    recording: Recording | str | None = None
    if options.profile:
        seconds = math.ceil(options.submit_warmup + options.submit_seconds)
        recording = available() or record(server.process.pid, seconds)
    with server.cpu.phase(PHASE_D):
        window = run_submitters(server, env_id, options)
    found = recording.result() if isinstance(recording, Recording) else recording
    with contextlib.closing(server.batch()) as client:
        live = live_jobs(client)
    progress(f"(d) stopping the server ({live} jobs not final): SIGTERM, SIGKILL after 40 s")
    with server.cpu.phase("stop (SIGTERM -> exit)"):
        stopped = stop_server(server)
    progress(f"(d) server stopped in {stopped.seconds:.1f} s")
    return SubmitLoad(window, live, stopped, found)


# --- one run --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreResult:
    """Phases (a), (c) and (d) on one store, with a fresh server."""

    store: str  # a key of STORES
    many: ManyResult
    latency: StartLatency
    load: SubmitLoad
    cpu: dict[str, CpuSample]
    log_errors: list[str]  # the ERROR lines of the server's log

    @property
    def name(self) -> str:
        return STORES[self.store]


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


def bench_store(kind: str, options: Options) -> StoreResult:
    """(a), (c) and (d) on a fresh server on a fresh store of `kind`; the server is stopped,
    then its database dropped, then its data directory removed."""
    name = STORES[kind]
    prefix = f"{DATA_PREFIX}{kind}-"
    with (
        tempfile.TemporaryDirectory(prefix=prefix, dir=options.data_parent) as tmp,
        fresh_store(kind) as store,
    ):
        where = "" if store.url is None else f", a fresh database on {PG_SERVER}"
        progress(
            f"{name}: starting the batchd server (fresh data directory in "
            f"{options.data_parent}{where})"
        )
        with batchd_server(Path(tmp), store) as server:
            env_id = warm_env(server, name)
            progress(f"{name}: (a) xargs -P2, then one task of {options.instances} x `true`")
            many = many_instances(server, env_id, options)
            progress(
                f"{name}: (a) {many.state} in {many.seconds:.1f} s ({many.done} instances done); "
                f"xargs took {many.xargs_seconds:.2f} s"
            )
            latency = measure_start_latency(server, env_id, options, many, name)
            progress(
                f"{name}: (d) SubmitJob from {CLIENTS} clients for {options.submit_seconds:g} s"
            )
            load = submit_load(server, env_id, options)
        errors = error_lines(server.log_path)
    progress(f"{name}: done")
    return StoreResult(kind, many, latency, load, server.cpu.phases, errors)


def measure_start_latency(
    server: Server, env_id: str, options: Options, many: ManyResult, name: str
) -> StartLatency:
    if not many.env_free:
        reason = f"the job of (a) was not final {TERMINATE_WAIT:g} s after TerminateJob"
        progress(f"{name}: (c) skipped: {reason}")
        return StartLatency(skipped=reason)
    progress(f"{name}: (c) {options.latency_jobs} one-instance jobs, one at a time")
    return start_latency(server, env_id, options)


def warm_env(server: Server, name: str) -> str:
    progress(f"{name}: creating an environment of {NODES} nodes of {NODE_CPU} CPU")
    with contextlib.closing(server.batch()) as client, server.cpu.phase("environment -> RUNNING"):
        env_id = create_env(client)
    return env_id


# --- report ---------------------------------------------------------------------------------


def goal_labels(options: Options, slurm: SlurmResult | str) -> list[tuple[str, str]]:
    """(metric, goal) of each row of the goal table, in the order of store_column's cells."""
    n = f"{options.instances:,}"
    if isinstance(slurm, str):
        peer = "(b) batchd / Slurm instances/s"
    else:
        peer = f"(b) batchd ({n}) / Slurm ({SLURM_TASKS}: {slurm.rate:,.1f}/s) instances/s"
    return [
        (f"(a) {n} x `true`, wall batchd / xargs -P2", f"<= {GOAL_XARGS_RATIO:g}x"),
        (f"(a) batchd instances/s ({n} instances)", ""),
        (f"(a) xargs -P2 instances/s ({n}), just before", ""),
        (peer, ""),
        ("(c) SubmitJob -> RUNNING, warm env, p50", f"<= {GOAL_START_P50_MS:.0f} ms"),
        ("(c) SubmitJob -> RUNNING, warm env, p90", ""),
        (f"(d) SubmitJob/s, {CLIENTS} clients, durable", f">= {GOAL_SUBMIT_RATE:,.0f}/s"),
        ("(d) SubmitJob call latency p99", f"<= {GOAL_SUBMIT_P99_MS:.0f} ms"),
    ]


def store_column(result: StoreResult, slurm: SlurmResult | str) -> list[str]:
    """The measured cells of one store, in the order of goal_labels."""
    many = result.many
    if many.finished:
        ratio = f"{many.ratio:.2f}x {verdict(many.ratio <= GOAL_XARGS_RATIO)}"
    else:
        ratio = f"not finished in {many.seconds:.0f} s MISS"
    peer = "Slurm unavailable" if isinstance(slurm, str) else f"{many.rate / slurm.rate:.1f}x"
    return [
        ratio,
        f"{many.rate:,.1f}/s",
        f"{many.xargs_rate:,.0f}/s",
        peer,
        *latency_cells(result.latency),
        *load_cells(result.load),
    ]


def latency_cells(latency: StartLatency) -> list[str]:
    if latency.skipped:
        return ["skipped", "skipped"]
    p50, p90 = percentile(latency.latencies_ms, 50), percentile(latency.latencies_ms, 90)
    return [f"{p50:,.0f} ms {verdict(p50 <= GOAL_START_P50_MS)}", f"{p90:,.0f} ms"]


def load_cells(load: SubmitLoad) -> list[str]:
    window = load.window
    p99 = percentile(window.latencies_ms, 99)
    return [
        f"{window.rate:,.0f}/s {verdict(window.rate >= GOAL_SUBMIT_RATE)}",
        f"{p99:,.1f} ms {verdict(p99 <= GOAL_SUBMIT_P99_MS)}",
    ]


def goal_table(
    options: Options, slurm: SlurmResult | str, results: Sequence[StoreResult]
) -> list[str]:
    columns = [store_column(result, slurm) for result in results]
    rows = [
        [label, goal, *(column[i] for column in columns)]
        for i, (label, goal) in enumerate(goal_labels(options, slurm))
    ]
    return table(["metric", "goal", *(result.name for result in results)], rows)


def per_unit(usage: CpuSample | None, units: int, database: bool) -> str:
    """CPU ms per unit of work of the server, of its database's backends and of its nodes."""
    if usage is None or units <= 0:
        return "CPU per unit: unknown"
    server, nodes = usage.server * 1000 / units, usage.nodes * 1000 / units
    backends = f"database {usage.database * 1000 / units:.1f} ms CPU, " if database else ""
    return f"server {server:.1f} ms CPU, {backends}nodes {nodes:.1f} ms CPU"


def many_detail(many: ManyResult, usage: CpuSample | None, database: bool) -> list[str]:
    lines = [
        f"(a) job {many.state} after {many.seconds:.2f} s: {many.done:,}/{many.instances:,} "
        f"instances final ({many.succeeded:,} SUCCEED); DescribeJob polled every "
        f"{JOB_POLL * 1000:.0f} ms; `seq {many.instances} | xargs -P{NODES} -n1 true`, run just "
        f"before, took {many.xargs_seconds * 1000:.0f} ms",
        f"    per instance: {per_unit(usage, many.done, database)}; xargs and its commands: "
        f"{many.xargs_cpu * 1000 / many.instances:.1f} ms CPU",
        f"    the disk: making the {many.instances:,} work dirs alone (1 mkdir each, one process) "
        f"took {many.work_dirs_seconds * 1000:.0f} ms here, "
        f"{many.work_dirs_seconds / many.instances * 1000:.2f} ms per instance",
    ]
    if not many.env_free:
        lines.append(
            f"    TerminateJob did not end it within {TERMINATE_WAIT:g} s: (c) was skipped, and (d)"
            " ran beside a job that never ended"
        )
    if many.ratio > GOAL_XARGS_RATIO:
        lines += [
            "    where the nodes' time goes (profiled on 2026-12-07, docs/benchmarks.md, Batch "
            "dispatch): starting processes, not Python;",
            "    each instance execs setpriv, then the gate's shell, from the Dask worker's large "
            "process. The design change: a small helper per node, started once as the commands' "
            "user, that forks them",
        ]
    return lines


def slurm_detail(slurm: SlurmResult | str) -> list[str]:
    if isinstance(slurm, str):
        return [f"Slurm: unavailable ({slurm})"]
    states = ", ".join(f"{count} {state}" for state, count in sorted(slurm.states.items()))
    return [
        f"(b) {slurm.version}, single node on loopback, batch_sched_delay=0, "
        f"sched_min_interval=0, OverSubscribe=FORCE:8, run once before the batchd servers:",
        f"    array of {SLURM_TASKS} `true` (sbatch --array=0-{SLURM_TASKS - 1} --wrap true) "
        f"done in {slurm.seconds:.2f} s ({states}), {slurm.rate:,.1f} instances/s; an array of "
        f"{SLURM_TASKS} there, {SLURM_TASKS} tasks vs batchd's one job of many instances",
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


def load_detail(load: SubmitLoad, usage: CpuSample | None, database: bool) -> list[str]:
    window, stop = load.window, load.stop
    values = window.latencies_ms
    how = "SIGKILL after 40 s" if stop.killed else "SIGTERM"
    live = "?" if load.live_jobs is None else f"{load.live_jobs:,}"
    lines = [
        f"(d) {len(values):,} SubmitJob answered in {window.seconds:.2f} s "
        f"({window.answered:,} with the warm-up); p50 {percentile(values, 50):,.1f} ms, "
        f"p90 {percentile(values, 90):,.1f} ms, max {max(values, default=math.nan):,.1f} ms; "
        f"errors {len(window.errors)}",
        f"    per SubmitJob, warm-up included: {per_unit(usage, window.answered, database)} "
        "(the nodes run the submitted jobs meanwhile)",
        f"    then {live} jobs not final; server stopped by {how} in {stop.seconds:.1f} s "
        f"(exit code {stop.exit_code}); {len(stop.outlived)} of its descendants outlived it, "
        f"{len(stop.leftovers)} still there {LEFTOVER_GRACE:g} s later (killed)",
        *(f"      outlived it: {line}" for line in stop.outlived),
        *(f"      killed: {line}" for line in stop.leftovers),
    ]
    if window.errors:
        lines.append(f"    first error: {window.errors[0]!r}")
    return lines + profile_lines(load.profile, "profile of the server during (d)", "    ")


def cpu_table(phases: dict[str, CpuSample], database: bool) -> list[str]:
    rows = [
        [
            name,
            f"{usage.wall:.1f} s",
            f"{usage.server:.2f} s",
            *([f"{usage.database:.2f} s"] if database else []),
            f"{usage.nodes:.2f} s",
            f"{usage.client:.2f} s",
            f"{usage.server / usage.wall:.2f}" if usage.wall > 0 else "-",
        ]
        for name, usage in phases.items()
    ]
    headers = [
        "phase",
        "wall",
        "server CPU",
        *(["database CPU"] if database else []),
        "nodes CPU",
        "bench CPU",
        "server cores",
    ]
    return table(headers, rows)


def log_detail(errors: Sequence[str]) -> list[str]:
    """The server's ERROR lines, grouped once timestamps, ids and numbers are masked."""
    if not errors:
        return ["server log: no ERROR line"]
    groups = Counter(re.sub(r"\S*\d\S*", "#", line.split(" ERROR ", 1)[1]) for line in errors)
    return [
        f"server log: {len(errors)} ERROR line{'' if len(errors) == 1 else 's'}:",
        *(f"    {count} x {message}" for message, count in groups.most_common(3)),
    ]


def store_sections(result: StoreResult, postgres: str | None) -> list[list[str]]:
    """The details and the CPU table of one store."""
    database = result.store == "postgresql"
    if database:
        heading = f"PostgreSQL {postgres} (a fresh database on {PG_SERVER}):"
    else:
        heading = "SQLite (the default store, in the fresh data directory):"
    details = [
        *many_detail(result.many, result.cpu.get(PHASE_A), database),
        *latency_detail(result.latency),
        *load_detail(result.load, result.cpu.get(PHASE_D), database),
        *log_detail(result.log_errors),
    ]
    backends = "; database: its PostgreSQL backends" if database else ""
    return [
        [heading, *(f"  {line}" for line in details)],
        [
            f"CPU per phase on {result.name} (server: the batchd process; nodes: its Dask worker "
            f"processes{backends}; each counted up to the last sample that saw it alive):",
            *cpu_table(result.cpu, database),
        ],
    ]


def report(
    options: Options,
    slurm: SlurmResult | str,
    results: Sequence[StoreResult],
    postgres: str | None,
) -> None:
    print()
    print(
        f"Results: {' and '.join(result.name for result in results)}, a fresh server on each, "
        f"an environment of {NODES} nodes of {NODE_CPU} CPU; {options.instances:,} instances "
        f"in (a), {options.latency_jobs} jobs in (c), {options.submit_seconds:g} s of load in "
        f"(d); data directories in {options.data_parent}"
    )
    print()
    sections = [
        goal_table(options, slurm, results),
        slurm_detail(slurm),
        *(section for result in results for section in store_sections(result, postgres)),
    ]
    for section in sections:
        for line in section:
            print(line)
        print()


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(sys.argv[1:] if argv is None else argv)
    exit_on_sigterm()
    postgres = None
    if "postgresql" in options.stores:
        try:
            postgres = postgres_facts()
        except SQLAlchemyError as error:
            reason = str(error).splitlines()[0]
            print(
                f"PostgreSQL is not reachable at {PG_SERVER} ({reason}): start it, or run with "
                "--db sqlite",
                file=sys.stderr,
            )
            return 2
    print_header("batchd dispatch benchmark")
    slurm = bench_slurm(options.slurm_script)
    if isinstance(slurm, str):
        progress(f"Slurm: unavailable ({slurm})")
    results = [bench_store(kind, options) for kind in options.stores]
    report(options, slurm, results, postgres)
    print_closing()
    return 0


if __name__ == "__main__":
    sys.exit(main())
