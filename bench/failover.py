"""Fail-over benchmark: two `batchd serve` replicas on one PostgreSQL database, the leader killed.

Two parts (both by default; --part picks one):

1. **fail-over** - runs the suite's fail-over test (tests/replicas/test_failover.py) for more
   rounds (--rounds, default 10) and jobs (--jobs, at most that many a round, default 3): two
   replicas on a fresh PostgreSQL database, jobs with notifications for every job, task and
   instance event submitted alternately to both, and in each round the leader (by /healthz)
   killed with SIGKILL at a random moment and started again as a follower, while a client thread
   per replica sends it requests. It prints each round's kill and hand-over, the time from the
   kill to another replica saying "leader" (p50, max; /healthz polled every 50 ms), the requests
   failed during each hand-over (on the replica that stayed up; refused or cut on the killed
   one), the totals and the verdict: every job SUCCEED and every stored event delivered to its
   subscribed queue exactly once. The test's own timeout bounds it: 120 s + 40 s a round.
2. **throughput** - the same PostgreSQL, a fresh database for each of: one replica, then two.
   SubmitJob/s from 8 client threads (split evenly across the replicas; one-instance jobs of
   `true` to an environment of 0 nodes, so that they queue and nothing runs beside the load) and
   CMQ messages/s from 4 client threads each looping SendMessage -> ReceiveMessage ->
   DeleteMessage on one shared queue (bench/mq.py's "one per call"; with two replicas a message
   is often sent through one and received through the other), each for 10 s (3 s with --quick)
   after 1 s of warm-up. Printed with the machine's core count, the CPU of each replica, of all
   PostgreSQL processes (other databases' included) and of this client over each window; and
   how many messages ReceiveMessage handed out more than once (visibility timeout 300 s, each
   deleted at once: it must be none). Then 100 times, one at a time: a long poll waits on the
   last replica and a SendMessage goes through the first; printed, the time from the send to the
   poll's answer (p50, p99), with one replica and across two (where PostgreSQL's NOTIFY wakes
   the poll).

Every process it starts is stopped on the way out, on failure and SIGTERM too (the test's
replicas by the test, which gets SIGINT; then whatever of them is left, by pid). Only 127.0.0.1 is
contacted.

Usage: `.venv/bin/python bench/failover.py [--rounds N] [--jobs N] [--seed S] [--quick]
[--part failover|throughput|both]`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx

from batchd.cli.batch_client import BatchApiError, BatchClient
from batchd.cli.client import CmqClient, CmqError

# bench/ is sys.path[0] when a script runs and, having no __init__.py, mypy's root for its files:
# so the shared modules are imported by their plain names.
from jobs import ZONE, submit_job
from machine import REPO_ROOT
from mq import BODY, create_queue, receive
from processes import cpu_seconds, descendants, identities, survivors
from report import percentile, print_closing, print_header, progress, table, verdict
from server import Batchd, exit_on_sigterm, launched, postgres_database, stop, wait_healthy

TEST = "tests/replicas/test_failover.py"
TEST_LINES = (
    "failover seed",
    "replica logs",
    "round ",
    "time to new leader",
    "requests failed",
    " jobs (",
    "passed",
    "failed",
    "skipped",
    "SKIPPED",
    "FAILED",
)
TEST_STOP_GRACE = 60.0  # s the test may take to stop its replicas after SIGINT
SUBMIT_CLIENTS = 8
CMQ_CLIENTS = 4
WAKE_SAMPLES = 100  # long polls woken by a send, one at a time
WAKE_SETTLE = 0.02  # s between starting a long poll and the send that wakes it
WARMUP = 1.0

Step = Callable[[], int]  # one client call or cycle; returns what it completed


@dataclass(frozen=True, slots=True)
class Options:
    rounds: int
    jobs: int
    seed: int | None
    seconds: float  # each throughput window
    parts: tuple[str, ...]


def parse_options(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, help="leader kills (default 10, 3 with --quick)")
    parser.add_argument("--jobs", type=int, default=3, help="at most this many jobs a round")
    parser.add_argument("--seed", type=int, help="replay the jobs and delays of a seed")
    parser.add_argument(
        "--quick", action="store_true", help="3 rounds, 3 s throughput windows instead of 10 s"
    )
    parser.add_argument("--part", choices=["failover", "throughput", "both"], default="both")
    args = parser.parse_args(argv)
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 10)
    parts = ("failover", "throughput") if args.part == "both" else (str(args.part),)
    return Options(rounds, args.jobs, args.seed, 3.0 if args.quick else 10.0, parts)


# --- 1. fail-over: the suite's test, longer --------------------------------------------------


def run_failover(options: Options) -> int:
    env = {
        **os.environ,
        "FAILOVER_ROUNDS": str(options.rounds),
        "FAILOVER_JOBS": str(options.jobs),
    }
    if options.seed is not None:
        env["FAILOVER_SEED"] = str(options.seed)
    command = [
        *(sys.executable, "-m", "pytest", TEST),
        *("-p", "no:xdist", "-p", "no:cacheprovider", "-o", "addopts=", "-s", "-q", "-rfEs"),
    ]
    print(f"\n1. fail-over: {options.rounds} kill -9s of the leader of two replicas", flush=True)
    started = time.monotonic()
    code, output = run_test(command, env)
    summary = output[-1].strip() if output else ""
    if code == 0 and " passed" in summary:
        said = "every job SUCCEED, every stored event delivered exactly once"
    elif code == 0:
        said = f"NOT RUN ({summary}; the reason is above)"
    else:
        said = f"FAILED (pytest exit code {code})"
    print(f"verdict: {said}; {time.monotonic() - started:.0f} s", flush=True)
    if code != 0:
        print("".join(output[-80:]))
    return code


def run_test(command: list[str], env: dict[str, str]) -> tuple[int, list[str]]:
    """Run pytest, echoing its lines of interest as they come; interrupted (SIGTERM to this
    script), it gets SIGINT so that its fixtures stop the replicas, and what is left is killed."""
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if any(marker in line for marker in TEST_LINES):
                print(f"  {line.strip()}", flush=True)
        return process.wait(), output
    finally:
        if process.poll() is None:
            family = identities(descendants(process.pid))
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=TEST_STOP_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            for pid, _ in survivors(family):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


# --- 2. throughput: two replicas against one --------------------------------------------------


@dataclass(slots=True)
class Crew:
    """Client threads' shared state: (end, latency s, completed) of every call, per thread."""

    calls: list[list[tuple[float, float, int]]]
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Window:
    completed: int  # calls (SubmitJob) or messages (CMQ) completed inside the window
    latencies_ms: list[float]  # of the calls that ended inside the window
    seconds: float
    errors: list[str]
    replica_cpu: list[float]  # s of CPU of each replica process over the window
    postgres_cpu: float  # s of CPU of every PostgreSQL process
    client_cpu: float  # s of CPU of this process

    @property
    def rate(self) -> float:
        return self.completed / self.seconds

    def cores(self, cpu: float) -> str:
        return f"{cpu / self.seconds:.2f}"


def postgres_cpu() -> float:
    """CPU s of every process named `postgres` (its backends for every database included)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    total += cpu_seconds(int(entry.name))
    return total


def client_loop(crew: Crew, index: int, step: Step) -> None:
    calls = crew.calls[index]
    while not crew.stop.is_set():
        started = time.perf_counter()
        try:
            done = step()
        except (BatchApiError, CmqError, httpx.HTTPError) as error:
            crew.errors.append(repr(error))
            crew.stop.wait(0.05)
            continue
        ended = time.perf_counter()
        calls.append((ended, ended - started, done))


def run_window(steps: Sequence[Step], servers: list[Batchd], seconds: float) -> Window:
    """Run a thread per step through WARMUP s, then count what ends inside `seconds` s."""
    crew = Crew(calls=[[] for _ in steps])
    threads = [
        threading.Thread(target=client_loop, args=(crew, i, step), daemon=True)
        for i, step in enumerate(steps)
    ]
    for thread in threads:
        thread.start()
    try:
        time.sleep(WARMUP)
        cpu_before = [cpu_seconds(s.process.pid) for s in servers]
        pg_before, client_before = postgres_cpu(), time.process_time()
        opened = time.perf_counter()
        time.sleep(seconds)
        closed = time.perf_counter()
        cpu_after = [cpu_seconds(s.process.pid) for s in servers]
        pg_after, client_after = postgres_cpu(), time.process_time()
    finally:
        crew.stop.set()
        for thread in threads:
            thread.join(timeout=35)
    inside = [call for calls in crew.calls for call in calls if opened <= call[0] <= closed]
    return Window(
        sum(done for _, _, done in inside),
        [latency * 1000 for _, latency, _ in inside],
        closed - opened,
        crew.errors,
        [after - before for before, after in zip(cpu_before, cpu_after, strict=True)],
        pg_after - pg_before,
        client_after - client_before,
    )


@dataclass(frozen=True, slots=True)
class Throughput:
    replicas: int
    submit: Window
    cmq: Window
    received_twice: int  # messages ReceiveMessage answered more than once
    wake_ms: list[float]  # SendMessage issued -> a long poll on the last replica answered


@dataclass(slots=True)
class Receipts:
    """The msgId of every message received: with a visibility timeout of 300 s and each message
    deleted at once, none may come twice, whichever replica sent and received it."""

    seen: set[str] = field(default_factory=set)
    twice: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, msg_id: str) -> None:
        with self.lock:
            self.twice += msg_id in self.seen
            self.seen.add(msg_id)


def cmq_cycle(client: CmqClient, queue_name: str, receipts: Receipts) -> int:
    """bench/mq.py's one-per-call cycle, noting what was received."""
    client.call("SendMessage", {"queueName": queue_name, "msgBody": BODY})
    got = receive(client, "ReceiveMessage", {"queueName": queue_name, "pollingWaitSeconds": 1}, 1)
    if not got:
        return 0
    receipts.note(str(got["msgId"]))
    client.call("DeleteMessage", {"queueName": queue_name, "receiptHandle": got["receiptHandle"]})
    return 1


def empty_env(client: BatchClient) -> str:
    """An environment of 0 nodes: SubmitJob's jobs queue in it and nothing runs them."""
    compute_env = {
        "EnvName": "bench-failover",
        "DesiredComputeNodeCount": 0,
        "EnvData": {"InstanceTypeOptions": {"CPU": 1, "Memory": 1}},
    }
    answer = client.call(
        "CreateComputeEnv", {"ComputeEnv": compute_env, "Placement": {"Zone": ZONE}}
    )
    return str(answer["EnvId"])


def measure(servers: list[Batchd], seconds: float) -> Throughput:
    with contextlib.ExitStack() as stack:
        with contextlib.closing(servers[0].batch()) as admin_batch:
            env_id = empty_env(admin_batch)
        submitters = [
            stack.enter_context(contextlib.closing(servers[i % len(servers)].batch()))
            for i in range(SUBMIT_CLIENTS)
        ]
        progress(f"  SubmitJob from {SUBMIT_CLIENTS} clients for {seconds:g} s")
        submit = run_window([partial(submit_one, c, env_id) for c in submitters], servers, seconds)
        queue_name = f"bench-failover-{len(servers)}"
        with contextlib.closing(servers[0].cmq()) as admin:
            create_queue(admin, queue_name, visibilityTimeout=300)
        consumers = [
            stack.enter_context(contextlib.closing(servers[i % len(servers)].cmq()))
            for i in range(CMQ_CLIENTS)
        ]
        progress(f"  CMQ send -> receive -> delete from {CMQ_CLIENTS} clients for {seconds:g} s")
        receipts = Receipts()
        steps = [partial(cmq_cycle, c, queue_name, receipts) for c in consumers]
        cmq = run_window(steps, servers, seconds)
        progress(f"  SendMessage on one replica -> long poll on another, {WAKE_SAMPLES} times")
        wake_ms = wake_latencies(servers[0], servers[-1], WAKE_SAMPLES)
    return Throughput(len(servers), submit, cmq, receipts.twice, wake_ms)


def wake_latencies(sender: Batchd, receiver: Batchd, samples: int) -> list[float]:
    """Milliseconds from a SendMessage issued through `sender` to the answer of a long poll
    already waiting on `receiver` (with two replicas: woken through PostgreSQL's NOTIFY)."""
    queue_name = "bench-failover-wake"
    with contextlib.closing(sender.cmq()) as send, contextlib.closing(receiver.cmq()) as poll:
        create_queue(send, queue_name)
        found: list[float] = []
        for _ in range(samples):
            answered: list[float] = []

            def wait(client: CmqClient = poll, into: list[float] = answered) -> None:
                receive(
                    client, "ReceiveMessage", {"queueName": queue_name, "pollingWaitSeconds": 10}, 1
                )
                into.append(time.perf_counter())

            waiter = threading.Thread(target=wait)
            waiter.start()
            time.sleep(WAKE_SETTLE)  # the poll waits by now
            sent = time.perf_counter()
            send.call("SendMessage", {"queueName": queue_name, "msgBody": BODY})
            waiter.join(timeout=15)
            if answered:
                found.append((answered[0] - sent) * 1000)
        return found


def submit_one(client: BatchClient, env_id: str) -> int:
    submit_job(client, env_id, 1, "true")
    return 1


@contextlib.contextmanager
def service(replicas: int, parent: Path) -> Iterator[list[Batchd]]:
    """`replicas` servers on one fresh PostgreSQL database, each with its own data directory
    (the first started, and migrating the database, before the next); all stopped on exit."""
    with postgres_database() as database_url, contextlib.ExitStack() as stack:
        servers: list[Batchd] = []
        stack.callback(stop_all, servers)
        for index in range(replicas):
            data_dir = parent / f"{replicas}-replicas-r{index}"
            data_dir.mkdir(mode=0o700)
            server = stack.enter_context(launched(data_dir, database_url))
            servers.append(server)
            wait_healthy(server)
        yield servers


def stop_all(servers: list[Batchd]) -> None:
    for server in reversed(servers):
        result = stop(server.process)
        if result.killed or result.leftovers:
            progress(
                f"  {server.base_url}: SIGKILL needed {result.killed}, "
                f"leftovers killed {len(result.leftovers)}"
            )


def run_throughput(options: Options) -> list[Throughput]:
    results = []
    with tempfile.TemporaryDirectory(prefix="batchd-bench-failover-") as tmp:
        for replicas in (1, 2):
            progress(f"throughput: {replicas} replica(s) on a fresh PostgreSQL database")
            with service(replicas, Path(tmp)) as servers:
                results.append(measure(servers, options.seconds))
    return results


def report_throughput(results: list[Throughput]) -> None:
    one, two = results
    cores = os.cpu_count()
    print(f"\n2. throughput on one PostgreSQL, one replica against two; cores: {cores}")
    rows = [
        [
            f"SubmitJob/s, {SUBMIT_CLIENTS} clients",
            f"{one.submit.rate:,.0f}/s",
            f"{two.submit.rate:,.0f}/s",
            f"{two.submit.rate / one.submit.rate:.2f}x" if one.submit.rate else "-",
        ],
        [
            "SubmitJob call p50 / p99",
            latency_text(one.submit),
            latency_text(two.submit),
            "",
        ],
        [
            "send -> a waiting long poll answered, p50 / p99",
            wake_text(one.wake_ms, "same replica"),
            wake_text(two.wake_ms, "the other"),
            "",
        ],
        [
            f"CMQ send->receive->delete msg/s, {CMQ_CLIENTS} clients",
            f"{one.cmq.rate:,.0f}/s",
            f"{two.cmq.rate:,.0f}/s",
            f"{two.cmq.rate / one.cmq.rate:.2f}x" if one.cmq.rate else "-",
        ],
    ]
    for line in table(["metric", "one replica", "two replicas", "two / one"], rows):
        print(line)
    twice = one.received_twice + two.received_twice
    print(
        f"CMQ messages received more than once: {one.received_twice} with one replica, "
        f"{two.received_twice} with two (must be 0) {verdict(twice == 0)}"
    )
    print(f"cores: {cores}; CPU in use over each window (cores busy on average):")
    for result in results:
        for name, window in (("SubmitJob", result.submit), ("CMQ", result.cmq)):
            each = " + ".join(window.cores(cpu) for cpu in window.replica_cpu)
            first = f" (first: {window.errors[0]})" if window.errors else ""
            print(
                f"  {result.replicas} replica(s), {name}: replicas {each}, PostgreSQL "
                f"{window.cores(window.postgres_cpu)}, bench client "
                f"{window.cores(window.client_cpu)}; errors {len(window.errors)}{first}"
            )


def wake_text(samples: list[float], where: str) -> str:
    if not samples:
        return "-"
    return (
        f"{percentile(samples, 50):.1f} / {percentile(samples, 99):.1f} ms ({where}, "
        f"{len(samples)}/{WAKE_SAMPLES})"
    )


def latency_text(window: Window) -> str:
    p50, p99 = percentile(window.latencies_ms, 50), percentile(window.latencies_ms, 99)
    return f"{p50:.1f} / {p99:.1f} ms"


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(sys.argv[1:] if argv is None else argv)
    exit_on_sigterm()
    print_header("batchd fail-over benchmark")
    code = 0
    if "failover" in options.parts:
        code = run_failover(options)
    if "throughput" in options.parts:
        report_throughput(run_throughput(options))
    print_closing()
    return code


if __name__ == "__main__":
    sys.exit(main())
