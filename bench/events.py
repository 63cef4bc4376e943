"""Event-delivery benchmark: how soon a lifecycle event reaches its subscribers, and what
publishing every instance event costs the dispatch.

One fresh `batchd serve` subprocess on its default store (SQLite in a fresh data directory), one
compute environment of 2 nodes of 1 CPU (one Dask worker process each), and three measurements:

a. **commit -> ReceiveMessage** - a job of 500 instances (100 with --quick) of `sleep 0.05`
   whose TASK_INSTANCE_RUNNING and TASK_INSTANCE_SUCCEED events go to a topic with a queue
   subscriber: 1000 (200) events, at the pace the two nodes run the instances. A consumer thread
   long-polls the queue (ReceiveMessage, pollingWaitSeconds=10, batchd's own CMQ client) and
   notes time.time() the moment each call returns; a second thread deletes what it received
   (BatchDeleteMessage), off the receive path; DescribeJob is polled every 0.5 s only. p50
   (goal <= 20 ms) and p99 (goal <= 100 ms).
b. **commit -> HTTP push** - the same job, its two instance events going to a second topic with
   an HTTP subscription (JSON format) to a small http.server of this script on 127.0.0.1, which
   notes time.time() when a request arrives. p50 (goal <= 30 ms) and p99.
c. **dispatch slowdown** - one job of one task with TaskInstanceNum 1000 (200) running `true`
   (bench/dispatch.py part (a)), timed from the SubmitJob call to DescribeJob answering SUCCEED
   (polled every 50 ms), without notifications ("plain") and with its two instance events
   subscribed to a topic with a queue subscriber ("notified"; nobody consumes during the run,
   the queue is then checked to hold 2 messages per instance). Four runs in the order plain,
   notified, notified, plain, so that a drift (the store grows by a job per run) cancels out;
   only the first two when the first took over 30 s. The ratio of the summed wall times
   notified / plain (goal <= 1.3x), and of the server's CPU per instance. (c) runs first.

The commit time of an event is read after the run from the stopped server's SQLite file
(read-only): `events.created_ms` of each EventId. The controller takes that time when its unit of
work starts, before it computes the transitions and commits them (an fsync), so every latency
printed here overestimates the real commit -> delivery time by that unit's duration. Both sides
read the same machine clock (time.time()). An event that never arrived, or arrived twice, is
counted and printed.

Bounded in time: the environment must run within 120 s, each job within 240 s (120 s with
--quick; an unfinished job is terminated and reported), the events may take 30 s more to arrive
after their job ended, the server gets 40 s after SIGTERM before SIGKILL. The default run takes
about 1-2 minutes on 2 cores (about 3 when the dispatch runs only ~20 instances/s: (c) then
does one pair of runs). Only 127.0.0.1 is contacted.

Usage: `.venv/bin/python bench/events.py [--quick]`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import os
import queue
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from batchd.cli.client import CmqClient, CmqError

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
from processes import cpu_seconds
from report import percentile, print_closing, print_header, progress, table, verdict
from server import HOST, Batchd, exit_on_sigterm, launched, stop, wait_healthy

SLOW_POLL = 0.5  # s between DescribeJob calls in (a) and (b), which measure something else
PROGRESS_EVERY = 20.0  # s between progress lines while a job runs
LONG_POLL_SECONDS = 10
NO_MESSAGE = 7000
STOP_BODY = "stop"
QUEUE_TOPIC, QUEUE_NAME = "bench-events", "bench-events-queue"  # (a)
PUSH_TOPIC = "bench-push"  # (b)
LOAD_TOPIC, LOAD_QUEUE = "bench-load", "bench-load-queue"  # (c)
LATENCY_COMMAND = "sleep 0.05"
SUBSCRIBED = ("TASK_INSTANCE_RUNNING", "TASK_INSTANCE_SUCCEED")
PAIR_BUDGET = 30.0  # s: (c) runs its second pair only when a run takes less
ARRIVAL_CAP = 30.0  # s the events may take to arrive after their job ended
TERMINATE_WAIT = 60.0  # s an unfinished job may take to end after TerminateJob

GOAL_QUEUE_P50_MS = 20.0
GOAL_QUEUE_P99_MS = 100.0
GOAL_PUSH_P50_MS = 30.0
GOAL_SLOWDOWN = 1.3


# --- options --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    instances: int  # TaskInstanceNum of the jobs of (c)
    latency_instances: int  # TaskInstanceNum of the jobs of (a) and (b)
    job_cap: float  # s after which a job is reported as not finished


def parse_options(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="short run: 200 instances in (c), 100 in (a) and (b)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        return Options(200, 100, 120.0)
    return Options(1000, 500, 240.0)


# --- batchd server --------------------------------------------------------------------------


@dataclass(slots=True)
class Server(Batchd):
    """The server subprocess, with what its stop left behind."""

    leftovers: list[str] = field(default_factory=list)  # descendants killed after it exited

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)


@contextlib.contextmanager
def batchd_server(data_dir: Path) -> Iterator[Server]:
    """`batchd serve` as a subprocess on the default store; always stopped on exit."""
    with launched(data_dir) as batchd:
        server = Server(batchd.base_url, batchd.process, batchd.log_path)
        try:
            wait_healthy(server)
            yield server
        finally:
            server.leftovers += stop(server.process).leftovers


def error_lines(log_path: Path) -> list[str]:
    with contextlib.suppress(OSError):
        return [
            line for line in log_path.read_text(errors="replace").splitlines() if "ERROR" in line
        ]
    return []


# --- Batch and CMQ set-up -------------------------------------------------------------------


def subscribe(client: CmqClient, topic: str, protocol: str, endpoint: str, fmt: str) -> None:
    client.call("CreateTopic", {"topicName": topic})
    params = {"topicName": topic, "subscriptionName": f"{topic}-sub", "protocol": protocol}
    params.update(endpoint=endpoint, notifyContentFormat=fmt)
    client.call("Subscribe", params)


def notifications(topic: str | None) -> list[dict[str, Any]] | None:
    """The SUBSCRIBED instance events of a job going to `topic` (no notification without one)."""
    if topic is None:
        return None
    return [{"TopicName": topic, "EventConfigs": [{"EventName": name} for name in SUBSCRIBED]}]


@dataclass(frozen=True, slots=True)
class JobRun:
    job_id: str
    instances: int
    seconds: float  # SubmitJob -> final, or until the cap
    state: str
    done: int  # instances SUCCEED or FAILED at the end
    server_cpu: float  # s of CPU the server process used meanwhile
    load: float  # the 1-minute load average when it ended (other processes share the CPUs)

    @property
    def finished(self) -> bool:
        return self.state in FINAL_JOB_STATES

    @property
    def cpu_ms_per_instance(self) -> float:
        return self.server_cpu * 1000 / self.done if self.done else math.nan


@dataclass(frozen=True, slots=True)
class Runs:
    """Runs of one kind in (c), summed."""

    runs: list[JobRun]

    @property
    def finished(self) -> bool:
        return all(run.finished for run in self.runs)

    @property
    def seconds(self) -> float:
        return sum(run.seconds for run in self.runs)

    @property
    def done(self) -> int:
        return sum(run.done for run in self.runs)

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_instance(self) -> float:
        cpu = sum(run.server_cpu for run in self.runs)
        return cpu * 1000 / self.done if self.done else math.nan


def run_job(
    server: Server,
    env_id: str,
    instances: int,
    command: str,
    topic: str | None,
    cap: float,
    poll: float = JOB_POLL,
) -> JobRun:
    """One job of `instances` x `command`, timed; terminated when not final after `cap` s."""
    with contextlib.closing(server.batch()) as client:
        cpu_before = server.cpu()
        started = time.perf_counter()
        job_id = submit_job(client, env_id, instances, command, notifications(topic))
        answer = wait_job(client, job_id, cap, poll, progress_every=PROGRESS_EVERY)
        seconds = time.perf_counter() - started
        cpu = server.cpu() - cpu_before
        if answer["JobState"] not in FINAL_JOB_STATES:
            progress(f"    not final after {cap:g} s: TerminateJob {job_id}")
            client.call("TerminateJob", {"JobId": job_id})
            wait_job(client, job_id, TERMINATE_WAIT, progress_every=PROGRESS_EVERY)
    state, done = str(answer["JobState"]), instances_done(answer)
    return JobRun(job_id, instances, seconds, state, done, cpu, os.getloadavg()[0])


# --- receivers --------------------------------------------------------------------------------


@dataclass(slots=True)
class Arrivals:
    """(time.time() of arrival, EventId) of every event a receiver got, in arrival order."""

    seen: list[tuple[float, str]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, at: float, msg_body: str) -> None:
        envelope = json.loads(base64.b64decode(msg_body))
        with self.lock:
            self.seen.extend((at, event["EventId"]) for event in envelope["Events"])

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.seen) < count and time.monotonic() < deadline and not self.errors:
            time.sleep(0.02)


def receive_loop(
    server: Server, arrivals: Arrivals, handles: queue.SimpleQueue[str | None]
) -> None:
    """Long-poll the queue until the stop message; note each arrival the moment it returns."""
    params = {"queueName": QUEUE_NAME, "pollingWaitSeconds": LONG_POLL_SECONDS}
    try:
        with contextlib.closing(server.cmq()) as client:
            while True:
                try:
                    got = client.call("ReceiveMessage", params, wait_seconds=LONG_POLL_SECONDS)
                except CmqError as error:
                    if error.code == NO_MESSAGE:
                        continue
                    raise
                returned = time.time()
                handles.put(str(got["receiptHandle"]))
                if got["msgBody"] == STOP_BODY:
                    return
                arrivals.add(returned, str(got["msgBody"]))
    except BaseException as error:
        arrivals.errors.append(error)
    finally:
        handles.put(None)


def delete_loop(server: Server, handles: queue.SimpleQueue[str | None]) -> None:
    """Acknowledge received messages in batches of up to 16, off the receive path."""
    with contextlib.closing(server.cmq()) as client:
        done = False
        while not done:
            batch = [handles.get()]
            while len(batch) < 16:
                try:
                    batch.append(handles.get_nowait())
                except queue.Empty:
                    break
            done = None in batch
            numbered = {
                f"receiptHandle.{i}": handle
                for i, handle in enumerate((h for h in batch if h is not None), start=1)
            }
            if numbered:
                with contextlib.suppress(CmqError, httpx.HTTPError):
                    client.call("BatchDeleteMessage", {"queueName": QUEUE_NAME, **numbered})


@contextlib.contextmanager
def queue_consumer(server: Server) -> Iterator[Arrivals]:
    """The receive and delete threads of (a); stopped by a stop message sent to the queue."""
    arrivals = Arrivals()
    handles: queue.SimpleQueue[str | None] = queue.SimpleQueue()
    threads = [
        threading.Thread(target=receive_loop, args=(server, arrivals, handles), daemon=True),
        threading.Thread(target=delete_loop, args=(server, handles), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        yield arrivals
    finally:
        with contextlib.closing(server.cmq()) as client, contextlib.suppress(CmqError):
            client.call("SendMessage", {"queueName": QUEUE_NAME, "msgBody": STOP_BODY})
        for thread in threads:
            thread.join(timeout=LONG_POLL_SECONDS + 5)


@contextlib.contextmanager
def push_endpoint() -> Iterator[tuple[str, Arrivals]]:
    """A loopback HTTP server that answers 200 and notes when each push arrived."""
    arrivals = Arrivals()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            at = time.time()
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            try:
                arrivals.add(at, str(json.loads(body)["msgBody"]))
            except (ValueError, KeyError) as error:
                arrivals.errors.append(error)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}/events", arrivals
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- one run --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Latency:
    """Arrival - created_ms of each event, in ms, and what did not add up."""

    latencies_ms: list[float]
    stored: int  # events stored for the job
    missing: int  # stored, never arrived
    duplicates: int  # arrived more than once
    unknown: int  # arrived, not stored

    @staticmethod
    def of(arrivals: Arrivals, created_ms: dict[str, int]) -> Latency:
        counts = Counter(event_id for _, event_id in arrivals.seen)
        first: dict[str, float] = {}
        for at, event_id in arrivals.seen:
            first.setdefault(event_id, at)
        latencies = [
            at * 1000 - created_ms[event_id]
            for event_id, at in first.items()
            if event_id in created_ms
        ]
        return Latency(
            latencies,
            len(created_ms),
            len(created_ms.keys() - first.keys()),
            sum(n - 1 for n in counts.values()),
            len(first.keys() - created_ms.keys()),
        )


@dataclass(frozen=True, slots=True)
class Results:
    plain: list[JobRun]  # (c) without notifications
    notified: list[JobRun]  # (c) with its instance events going to a queue
    queued: int | None  # messages in the queue of (c) after its run (None: unknown)
    consumed: JobRun  # (a)
    pushed: JobRun  # (b)
    queue_latency: Latency
    push_latency: Latency
    errors: list[str]
    leftovers: list[str]


def stored_events(database: Path) -> dict[str, dict[str, int]]:
    """created_ms by EventId of the subscribed events, by job, read-only from the SQLite file."""
    by_owner: dict[str, dict[str, int]] = {}
    marks = ",".join("?" for _ in SUBSCRIBED)
    query = f"SELECT event_id, owner_id, created_ms FROM events WHERE name IN ({marks})"
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        for event_id, owner_id, created_ms in db.execute(query, SUBSCRIBED):
            by_owner.setdefault(str(owner_id), {})[str(event_id)] = int(created_ms)
    return by_owner


def queued_messages(server: Server, expected: int) -> int | None:
    """Messages waiting in the queue of (c), once there are `expected` or ARRIVAL_CAP s passed."""
    deadline = time.monotonic() + ARRIVAL_CAP
    count = None
    with contextlib.closing(server.cmq()) as client:
        while True:
            with contextlib.suppress(CmqError, httpx.HTTPError):
                count = int(
                    client.call("GetQueueAttributes", {"queueName": LOAD_QUEUE})["activeMsgNum"]
                )
            if count == expected or time.monotonic() > deadline:
                return count
            time.sleep(0.1)


def slowdown_runs(
    server: Server, env_id: str, instances: int, cap: float
) -> tuple[list[JobRun], list[JobRun]]:
    """(c): plain, notified, notified, plain (ABBA: a drift over the four cancels out); only the
    first pair when the first run took longer than PAIR_BUDGET s."""
    plain: list[JobRun] = []
    notified: list[JobRun] = []
    for topic in (None, LOAD_TOPIC, LOAD_TOPIC, None):
        if len(plain) + len(notified) == 2 and plain[0].seconds > PAIR_BUDGET:
            progress(f"(c) the first run took over {PAIR_BUDGET:g} s: one pair only")
            break
        kind = "plain" if topic is None else "2 events each to a queue"
        progress(f"(c) {instances} instances of `true`, {kind}")
        run = run_job(server, env_id, instances, "true", topic, cap)
        (plain if topic is None else notified).append(run)
        progress(f"(c) {run.state} in {run.seconds:.1f} s")
    return plain, notified


def set_up(server: Server, push_url: str) -> str:
    """The environment, and the topics of (a), (b) and (c) with their subscriptions."""
    progress(f"creating an environment of {NODES} nodes of {NODE_CPU} CPU")
    with contextlib.closing(server.batch()) as client:
        env_id = create_env(client)
    with contextlib.closing(server.cmq()) as cmq:
        for name in (QUEUE_NAME, LOAD_QUEUE):
            cmq.call("CreateQueue", {"queueName": name, "visibilityTimeout": 300})
        subscribe(cmq, QUEUE_TOPIC, "queue", QUEUE_NAME, "SIMPLIFIED")
        subscribe(cmq, LOAD_TOPIC, "queue", LOAD_QUEUE, "SIMPLIFIED")
        subscribe(cmq, PUSH_TOPIC, "http", push_url, "JSON")
    return env_id


def bench(options: Options) -> Results:
    n, m, cap = options.instances, options.latency_instances, options.job_cap
    with tempfile.TemporaryDirectory(prefix="batchd-bench-events-") as tmp:
        data_dir = Path(tmp)
        progress("starting the batchd server (SQLite, fresh data directory)")
        with batchd_server(data_dir) as server, push_endpoint() as (push_url, pushes):
            env_id = set_up(server, push_url)

            plain, notified = slowdown_runs(server, env_id, n, cap)
            queued = queued_messages(server, 2 * sum(run.done for run in notified))

            progress(f"(a) {m} x `{LATENCY_COMMAND}`, 2 events each to a long-polled queue")
            with queue_consumer(server) as received:
                consumed = run_job(server, env_id, m, LATENCY_COMMAND, QUEUE_TOPIC, cap, SLOW_POLL)
                received.wait_for(2 * consumed.done, ARRIVAL_CAP)
            progress(f"(a) {consumed.state} in {consumed.seconds:.1f} s; {len(received.seen)} got")

            progress(f"(b) {m} x `{LATENCY_COMMAND}`, 2 events each pushed to {push_url}")
            pushed = run_job(server, env_id, m, LATENCY_COMMAND, PUSH_TOPIC, cap, SLOW_POLL)
            pushes.wait_for(2 * pushed.done, ARRIVAL_CAP)
            progress(f"(b) {pushed.state} in {pushed.seconds:.1f} s; {len(pushes.seen)} pushed")
        for arrivals in (received, pushes):
            if arrivals.errors:
                raise RuntimeError(f"a receiver failed: {arrivals.errors[0]!r}")
        stored = stored_events(data_dir / "batchd.db")
        return Results(
            plain,
            notified,
            queued,
            consumed,
            pushed,
            Latency.of(received, stored.get(consumed.job_id, {})),
            Latency.of(pushes, stored.get(pushed.job_id, {})),
            error_lines(server.log_path),
            server.leftovers,
        )


# --- report ---------------------------------------------------------------------------------


def latency_rows(
    label: str, latency: Latency, p50_goal: float, p99_goal: float | None
) -> list[list[str]]:
    p50, p99 = percentile(latency.latencies_ms, 50), percentile(latency.latencies_ms, 99)
    p99_row = [f"{label} p99", "", f"{p99:,.1f} ms"]
    if p99_goal is not None:
        p99_row = [
            f"{label} p99",
            f"<= {p99_goal:.0f} ms",
            f"{p99:,.1f} ms {verdict(p99 <= p99_goal)}",
        ]
    return [
        [f"{label} p50", f"<= {p50_goal:.0f} ms", f"{p50:,.1f} ms {verdict(p50 <= p50_goal)}"],
        p99_row,
    ]


def goal_table(results: Results) -> list[str]:
    plain, notified = Runs(results.plain), Runs(results.notified)
    n = f"{results.plain[0].instances:,}"
    if plain.finished and notified.finished:
        ratio = notified.seconds / plain.seconds
        slowdown = f"{ratio:.2f}x {verdict(ratio <= GOAL_SLOWDOWN)}"
    else:
        slowdown = "not finished MISS"
    cpu_ratio = notified.cpu_ms_per_instance / plain.cpu_ms_per_instance
    rows = [
        *latency_rows(
            "(a) commit -> ReceiveMessage",
            results.queue_latency,
            GOAL_QUEUE_P50_MS,
            GOAL_QUEUE_P99_MS,
        ),
        *latency_rows("(b) commit -> HTTP push", results.push_latency, GOAL_PUSH_P50_MS, None),
        [f"(c) {n} x `true` wall, notified / plain", f"<= {GOAL_SLOWDOWN:g}x", slowdown],
        [f"(c) instances/s plain ({len(plain.runs)} x {n})", "", f"{plain.rate:,.1f}/s"],
        [
            f"(c) instances/s notified ({len(notified.runs)} x {n})",
            "",
            f"{notified.rate:,.1f}/s",
        ],
        ["(c) server CPU per instance, notified / plain", "", f"{cpu_ratio:.2f}x"],
    ]
    return table(["metric", "goal", "batchd"], rows)


def latency_detail(label: str, latency: Latency, run: JobRun, how: str) -> str:
    values = latency.latencies_ms
    rate = latency.stored / run.seconds if run.seconds else math.nan
    return (
        f"{label}: {len(values):,} of {latency.stored:,} events {how}, fired at {rate:,.0f}/s "
        f"(missing {latency.missing}, duplicates {latency.duplicates}, unknown {latency.unknown})"
        f"; min {min(values, default=math.nan):,.1f} ms, p90 {percentile(values, 90):,.1f} ms, "
        f"max {max(values, default=math.nan):,.1f} ms"
    )


def job_detail(label: str, run: JobRun) -> str:
    return (
        f"{label}: {run.state} after {run.seconds:.2f} s, {run.done:,}/{run.instances:,} instances "
        f"final; server CPU {run.server_cpu:.1f} s ({run.cpu_ms_per_instance:.1f} ms/instance); "
        f"load {run.load:.2f}"
    )


def report(options: Options, results: Results) -> None:
    print()
    print(
        f"Results: SQLite (default store), an environment of {NODES} nodes of {NODE_CPU} CPU; "
        f"{options.latency_instances:,} instances of `{LATENCY_COMMAND}` in (a) and in (b), "
        f"{options.instances:,} of `true` in (c); events {' + '.join(SUBSCRIBED)}"
    )
    print()
    for line in goal_table(results):
        print(line)
    print()
    expected = 2 * Runs(results.notified).done
    details = [
        latency_detail("(a)", results.queue_latency, results.consumed, "received"),
        latency_detail("(b)", results.push_latency, results.pushed, "pushed"),
        "    latency = arrival time.time() - events.created_ms, taken when the controller's unit "
        "of work starts, before it commits: an overestimate by that unit's duration",
        job_detail("(a) job     ", results.consumed),
        job_detail("(b) job     ", results.pushed),
        *(job_detail("(c) plain   ", run) for run in results.plain),
        *(job_detail("(c) notified", run) for run in results.notified),
        f"(c) queue after the notified runs: {results.queued} messages (expected {expected:,})",
        f"server log: {len(results.errors)} ERROR lines"
        + (f", first: {results.errors[0][:200]}" if results.errors else ""),
        f"descendants left after the server stopped (killed): {len(results.leftovers)}",
    ]
    for line in details:
        print(line)
    print()


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(sys.argv[1:] if argv is None else argv)
    exit_on_sigterm()
    print_header("batchd event-delivery benchmark")
    results = bench(options)
    report(options, results)
    print_closing()
    return 0


if __name__ == "__main__":
    sys.exit(main())
