"""Message-service benchmark: batchd's CMQ API on SQLite and PostgreSQL, against RabbitMQ.

What it measures, per database kind (a fresh `batchd serve` subprocess on a fresh database each):

1. **one per call** - 4 client threads of the official CMQ SDK (qcloud-cmq-sdk-py3), each
   looping SendMessage -> ReceiveMessage -> DeleteMessage on one shared queue; messages/s, where
   one message is one full cycle.
2. **batched** - the same with 16 messages per call (BatchSendMessage, BatchReceiveMessage
   numOfMsg=16, BatchDeleteMessage); messages/s counted as messages deleted.
3. **publish -> receive latency** - a topic with a queue subscription (SIMPLIFIED) and a consumer
   thread long-polling the queue (pollingWaitSeconds=10); messages are published one at a time at
   a fixed, modest rate, each carrying its publish-call start time; latency = that time -> the
   moment ReceiveMessage returned it. p50 and p99.
4. **many consumers** - 500 SendMessage calls to a queue nobody waits on, then 500 to a queue
   that 500 consumer threads long-poll (each takes one message): the ratio of the two times.

And once per run, the one-per-call workload on RabbitMQ (durable queue, persistent messages,
publisher confirms, basic_get + basic_ack, 4 threads with a connection each), printed beside
batchd as a ratio. Every acknowledged write is durable on both sides (batchd fsyncs each group
commit; RabbitMQ confirms a persistent message once it is on disk).

Throughput phases run for a fixed time (10 s, 3 s with --quick) after a short warm-up; the
latency phase publishes 500 messages at 50/s (200 at 100/s with --quick) and stops publishing
after 40 s (15 s) if the server cannot keep that pace. The whole default run takes about
2-3 minutes. Beside the goals it prints, per phase, batchd's group commits (from /metrics: how
many requests each fsync covered) and the CPU used by the server and by this client process,
plus the load average, since the benchmark shares the machine's CPUs with its server and with
anything else running. Only 127.0.0.1 is contacted.

Then, per database kind, where the time of one message per call goes: the CPU a message costs
the server and this client, what that allows on this machine's cores, and the server's budget
the RabbitMQ goal leaves. With --profile (`make bench` asks for it), py-spy samples the server
under one message per call once more, and the time it held the interpreter is printed by layer,
with the design change that would take a large share away.

Usage: `.venv/bin/python bench/mq.py [--quick] [--db sqlite|postgresql|both] [--profile]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import queue
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pika
from cmq.account import Account
from cmq.cmq_exception import CMQServerException
from cmq.queue import Message as SdkMessage
from cmq.queue import Queue as SdkQueue

from batchd.cli.client import CmqClient, CmqError

# bench/ is sys.path[0] when a script runs and, having no __init__.py, mypy's root for its files:
# so the shared modules are imported by their plain names.
from processes import cpu_seconds
from report import percentile, print_closing, print_header, progress, table, verdict
from server import (
    HOST,
    SECRET_ID,
    SECRET_KEY,
    Batchd,
    cmq_client,
    exit_on_sigterm,
    postgres_database,
    serving,
)
from server_profile import Profile, available, profile_lines, record

RABBIT_PARAMETERS = pika.ConnectionParameters(
    HOST, 5672, credentials=pika.PlainCredentials("guest", "guest"), heartbeat=0
)

CLIENTS = 4
BATCH = 16
BODY = "m" * 128  # message body for every throughput workload, batchd and RabbitMQ alike
NO_MESSAGE = 7000
LONG_POLL_SECONDS = 10
STOP_BODY = "stop"

GOAL_RABBIT_RATIO = 0.5  # one per call, against RabbitMQ's durable rate in the same run
GOAL_BATCH = 15_000.0  # msg/s
GOAL_P50_MS = 20.0
GOAL_P99_MS = 100.0
WAITERS = 500  # consumers long-polling one queue while it is sent to
GOAL_WAITERS_RATIO = 2.0  # sends with them waiting, against the same sends with nobody waiting

Step = Callable[[], int]  # one client iteration; returns the messages it completed


# --- options --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    warmup: float  # seconds before a throughput window opens
    duration: float  # seconds a throughput window stays open
    latency_messages: int  # publishes measured for latency
    latency_warmup: int  # publishes sent (and discarded) before them
    publish_rate: float  # publishes per second in the latency phase
    latency_cap: float  # seconds after which the latency phase stops publishing
    databases: tuple[str, ...]
    profile: bool  # profile the server under one message per call (py-spy)


def parse_options(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short run: 3 s phases instead of 10 s, 200 latency publishes instead of 500",
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then profile the server under one message per call (py-spy), and print by layer "
        "where its time goes",
    )
    args = parser.parse_args(argv)
    databases = ("sqlite", "postgresql") if args.db == "both" else (str(args.db),)
    if args.quick:
        return Options(1.0, 3.0, 200, 20, 100.0, 15.0, databases, args.profile)
    return Options(2.0, 10.0, 500, 20, 50.0, 40.0, databases, args.profile)


# --- databases ------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_server(kind: str) -> Iterator[Batchd]:
    """A batchd server on a fresh database of `kind`."""
    with tempfile.TemporaryDirectory(prefix=f"batchd-bench-{kind}-") as tmp:
        data_dir = Path(tmp)
        if kind == "sqlite":
            with serving(data_dir, f"sqlite:///{data_dir / 'batchd.db'}") as server:
                yield server
        else:
            with postgres_database() as db_url, serving(data_dir, db_url) as server:
                yield server


# --- resource samples -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """Cumulative counters read at one instant; differences give a window's usage."""

    commits: float = 0.0  # batchd group commits
    units: float = 0.0  # batchd units of work (requests that wrote)
    server_cpu: float = 0.0  # CPU seconds of the server process
    client_cpu: float = 0.0  # CPU seconds of this benchmark process

    def __sub__(self, other: Sample) -> Sample:
        return Sample(
            self.commits - other.commits,
            self.units - other.units,
            self.server_cpu - other.server_cpu,
            self.client_cpu - other.client_cpu,
        )


def find_pid(command_name: str) -> int | None:
    """The first process whose /proc/PID/comm is `command_name`."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == command_name:
                    return int(entry.name)
    return None


def writer_counters(base_url: str) -> tuple[float, float]:
    """(group commits, units of work) from /metrics: how well the writer batches."""
    values: dict[str, float] = {}
    for line in httpx.get(f"{base_url}/metrics", timeout=5).text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("batchd_store_commits_total", "batchd_store_units_total"):
            values[name] = float(value)
    return values["batchd_store_commits_total"], values["batchd_store_units_total"]


def batchd_sample(server: Batchd) -> Sample:
    commits, units = writer_counters(server.base_url)
    return Sample(commits, units, cpu_seconds(server.process.pid), time.process_time())


def pid_sample(pid: int | None) -> Sample:
    server_cpu = 0.0 if pid is None else cpu_seconds(pid)
    return Sample(server_cpu=server_cpu, client_cpu=time.process_time())


# --- running concurrent clients ------------------------------------------------------------


@dataclass(slots=True)
class Window:
    """What the clients completed while the measurement window was open."""

    messages: int
    seconds: float
    usage: Sample

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def units_per_commit(self) -> float:
        return self.usage.units / self.usage.commits if self.usage.commits else 0.0

    def cores(self, cpu_seconds: float) -> float:
        return cpu_seconds / self.seconds

    def cpu_ms_per_message(self, cpu_seconds: float) -> float:
        return cpu_seconds * 1000 / self.messages if self.messages else math.nan

    def cpu_text(self, server_name: str) -> str:
        """Server and client CPU: cores in use, and the server's CPU time per message."""
        server, client = self.usage.server_cpu, self.usage.client_cpu
        per_message = self.cpu_ms_per_message(server)
        ceiling = 1000 / per_message if per_message > 0 else math.nan
        return (
            f"CPU: {server_name} {self.cores(server):.2f} cores = {per_message:.2f} ms/message "
            f"(<= {ceiling:,.0f} msg/s per busy core), "
            f"bench client {self.cores(client):.2f} cores"
        )


@dataclass(slots=True)
class Crew:
    """Shared state of the client threads of one phase."""

    counts: list[int]
    ready: threading.Barrier
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)

    def total(self) -> int:
        return sum(self.counts)


def client_loop(
    crew: Crew, index: int, make_step: Callable[[], AbstractContextManager[Step]]
) -> None:
    try:
        with make_step() as step:
            crew.ready.wait(timeout=30)
            while not crew.stop.is_set():
                crew.counts[index] += step()
    except threading.BrokenBarrierError:
        pass
    except BaseException as error:
        crew.errors.append(error)
        crew.ready.abort()
        crew.stop.set()


def run_clients(
    make_step: Callable[[], AbstractContextManager[Step]],
    options: Options,
    sample: Callable[[], Sample],
) -> Window:
    """Run CLIENTS threads of `step` through a warm-up, then count a fixed window."""
    crew = Crew(counts=[0] * CLIENTS, ready=threading.Barrier(CLIENTS + 1))
    threads = [
        threading.Thread(target=client_loop, args=(crew, i, make_step), daemon=True)
        for i in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    try:
        crew.ready.wait(timeout=30)
        return measure_window(crew, options, sample)
    except threading.BrokenBarrierError:
        raise_first(crew)
        raise
    finally:
        crew.stop.set()
        for thread in threads:
            thread.join(timeout=30)


def measure_window(crew: Crew, options: Options, sample: Callable[[], Sample]) -> Window:
    crew.stop.wait(options.warmup)
    before, start_count, start = sample(), crew.total(), time.perf_counter()
    crew.stop.wait(options.duration)
    end_count, end, after = crew.total(), time.perf_counter(), sample()
    raise_first(crew)
    return Window(messages=end_count - start_count, seconds=end - start, usage=after - before)


def raise_first(crew: Crew) -> None:
    if crew.errors:
        raise RuntimeError(f"a client failed: {crew.errors[0]!r}") from crew.errors[0]


# --- batchd workloads ----------------------------------------------------------------------


def create_queue(client: CmqClient, name: str, **attributes: int) -> None:
    client.call("CreateQueue", {"queueName": name, **attributes})


def receive(client: CmqClient, action: str, params: dict[str, Any], wait: float) -> dict[str, Any]:
    """Call a receive action; 'no message' (7000) answers an empty dict."""
    try:
        return client.call(action, params, wait_seconds=wait)
    except CmqError as error:
        if error.code == NO_MESSAGE:
            return {}
        raise


def single_cycle(queue: SdkQueue) -> int:
    queue.send_message(SdkMessage(BODY))
    try:
        got = queue.receive_message(1)
    except CMQServerException as error:
        if error.code == NO_MESSAGE:
            return 0
        raise
    queue.delete_message(got.receiptHandle)
    return 1


def batch_cycle(queue: SdkQueue) -> int:
    queue.batch_send_message([SdkMessage(BODY) for _ in range(BATCH)])
    try:
        got = queue.batch_receive_message(BATCH, 1)
    except CMQServerException as error:
        if error.code == NO_MESSAGE:
            return 0
        raise
    queue.batch_delete_message([message.receiptHandle for message in got])
    return len(got)


def batchd_steps(
    base_url: str, queue_name: str, cycle: Callable[[SdkQueue], int]
) -> Callable[[], AbstractContextManager[Step]]:
    """A client thread's loop over `cycle`, through the official CMQ SDK (one keep-alive
    connection per thread), as users call batchd."""

    @contextlib.contextmanager
    def make_step() -> Iterator[Step]:
        queue = Account(base_url, SECRET_ID, SECRET_KEY).get_queue(queue_name)
        yield lambda: cycle(queue)

    return make_step


def batchd_throughput(server: Batchd, cycle: Callable[[SdkQueue], int], options: Options) -> Window:
    queue_name = f"bench-{uuid.uuid4().hex[:12]}"
    with contextlib.closing(cmq_client(server.base_url)) as admin:
        create_queue(admin, queue_name, visibilityTimeout=300)
    steps = batchd_steps(server.base_url, queue_name, cycle)
    return run_clients(steps, options, sample=lambda: batchd_sample(server))


# --- publish -> receive latency -------------------------------------------------------------


@dataclass(slots=True)
class LatencyResult:
    latencies_ms: list[float]
    published: int
    publish_seconds: float  # time taken by the measured publishes
    duplicates: int

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile, in ms (NaN when nothing arrived)."""
        return percentile(self.latencies_ms, p)

    @property
    def lost(self) -> int:
        return self.published - len(self.latencies_ms)

    @property
    def publish_rate(self) -> float:
        return self.published / self.publish_seconds if self.publish_seconds else 0.0


@dataclass(slots=True)
class Consumer:
    """The long-polling consumer thread's results; it hands receipt handles to a deleter."""

    latencies_ms: dict[int, float] = field(default_factory=dict)
    duplicates: int = 0
    handles: queue.SimpleQueue[str | None] = field(default_factory=queue.SimpleQueue)
    errors: list[BaseException] = field(default_factory=list)

    def record(self, body: str, returned: float) -> None:
        data = json.loads(body)
        seq = int(data["seq"])
        if seq < 0:
            return  # warm-up message
        if seq in self.latencies_ms:
            self.duplicates += 1
            return
        self.latencies_ms[seq] = (returned - float(data["t"])) * 1000

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.latencies_ms) < count and time.monotonic() < deadline:
            if self.errors:
                return
            time.sleep(0.01)


def consume(consumer: Consumer, base_url: str, queue_name: str) -> None:
    """Long-poll until the stop message; note each message's latency the moment it returns."""
    params = {"queueName": queue_name, "pollingWaitSeconds": LONG_POLL_SECONDS}
    try:
        with contextlib.closing(cmq_client(base_url)) as client:
            while True:
                got = receive(client, "ReceiveMessage", params, LONG_POLL_SECONDS)
                returned = time.perf_counter()
                if not got:
                    continue
                consumer.handles.put(str(got["receiptHandle"]))
                if got["msgBody"] == STOP_BODY:
                    return
                consumer.record(str(got["msgBody"]), returned)
    except BaseException as error:
        consumer.errors.append(error)
    finally:
        consumer.handles.put(None)


def delete_handles(consumer: Consumer, base_url: str, queue_name: str) -> None:
    """Acknowledge what the consumer received, off its path, until it hands over None."""
    with contextlib.closing(cmq_client(base_url)) as client:
        while (handle := consumer.handles.get()) is not None:
            with contextlib.suppress(CmqError):
                client.call("DeleteMessage", {"queueName": queue_name, "receiptHandle": handle})


def subscribe_queue(client: CmqClient, topic: str, queue_name: str) -> None:
    create_queue(client, queue_name, visibilityTimeout=300)
    client.call("CreateTopic", {"topicName": topic})
    client.call(
        "Subscribe",
        {
            "topicName": topic,
            "subscriptionName": "bench",
            "protocol": "queue",
            "notifyContentFormat": "SIMPLIFIED",
            "endpoint": queue_name,
        },
    )


def publish_paced(client: CmqClient, topic: str, seqs: range, rate: float, deadline: float) -> int:
    """Publish one message per call at `rate` (never bursting to catch up) until `deadline`
    (a perf_counter time); each body carries its call's start time. Returns how many went out."""
    interval = 1.0 / rate
    next_at = time.perf_counter()
    published = 0
    for seq in seqs:
        now = time.perf_counter()
        if now >= deadline:
            break
        if next_at > now:
            time.sleep(next_at - now)
        next_at = max(next_at + interval, time.perf_counter())
        body = json.dumps({"seq": seq, "t": time.perf_counter()})
        client.call("PublishMessage", {"topicName": topic, "msgBody": body})
        published += 1
    return published


def measure_latency(base_url: str, options: Options) -> LatencyResult:
    suffix = uuid.uuid4().hex[:12]
    topic, queue_name = f"bench-topic-{suffix}", f"bench-sub-{suffix}"
    consumer = Consumer()
    deadline = time.perf_counter() + options.latency_cap
    with contextlib.closing(cmq_client(base_url)) as client:
        subscribe_queue(client, topic, queue_name)
        threads = [
            threading.Thread(target=target, args=(consumer, base_url, queue_name), daemon=True)
            for target in (consume, delete_handles)
        ]
        for thread in threads:
            thread.start()
        try:
            rate = options.publish_rate
            publish_paced(client, topic, range(-options.latency_warmup, 0), rate, deadline)
            started = time.perf_counter()
            published = publish_paced(
                client, topic, range(options.latency_messages), rate, deadline
            )
            publish_seconds = time.perf_counter() - started
            consumer.wait_for(published, timeout=15)
        finally:
            client.call("SendMessage", {"queueName": queue_name, "msgBody": STOP_BODY})
            for thread in threads:
                thread.join(timeout=30)
    if consumer.errors:
        raise RuntimeError(f"the consumer failed: {consumer.errors[0]!r}") from consumer.errors[0]
    latencies = list(consumer.latencies_ms.values())
    return LatencyResult(latencies, published, publish_seconds, consumer.duplicates)


# --- RabbitMQ -------------------------------------------------------------------------------


def rabbit_cycle(channel: Any, queue_name: str) -> int:
    channel.basic_publish(
        exchange="",
        routing_key=queue_name,
        body=BODY.encode(),
        properties=pika.BasicProperties(delivery_mode=2),
    )
    method, _properties, _body = channel.basic_get(queue=queue_name, auto_ack=False)
    if method is None:
        return 0
    channel.basic_ack(delivery_tag=method.delivery_tag)
    return 1


def rabbit_steps(queue_name: str) -> Callable[[], AbstractContextManager[Step]]:
    @contextlib.contextmanager
    def make_step() -> Iterator[Step]:
        connection = pika.BlockingConnection(RABBIT_PARAMETERS)
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            yield lambda: rabbit_cycle(channel, queue_name)
        finally:
            connection.close()

    return make_step


@dataclass(slots=True)
class RabbitResult:
    window: Window
    version: str


def rabbitmq_throughput(options: Options) -> RabbitResult:
    queue_name = f"batchd-bench-{uuid.uuid4().hex[:12]}"
    connection = pika.BlockingConnection(RABBIT_PARAMETERS)
    try:
        version = connection._impl.server_properties.get("version", b"?")
        channel = connection.channel()
        channel.queue_declare(queue=queue_name, durable=True)
        try:
            beam = find_pid("beam.smp")
            window = run_clients(rabbit_steps(queue_name), options, lambda: pid_sample(beam))
        finally:
            channel.queue_delete(queue=queue_name)
    finally:
        connection.close()
    return RabbitResult(window, version.decode() if isinstance(version, bytes) else str(version))


# --- one database kind ----------------------------------------------------------------------


@dataclass(slots=True)
class DbResult:
    single: Window
    batched: Window
    latency: LatencyResult
    waiters: WaitersResult
    profile: Profile | str | None  # None: not asked for; str: why there is none


@dataclass(frozen=True, slots=True)
class WaitersResult:
    idle_seconds: float  # WAITERS sends, nobody waiting
    busy_seconds: float  # the same sends while WAITERS consumers long-poll the queue
    received: int

    @property
    def ratio(self) -> float:
        return self.busy_seconds / self.idle_seconds


def timed_sends(client: CmqClient, queue_name: str, count: int) -> float:
    started = time.perf_counter()
    for number in range(count):
        client.call("SendMessage", {"queueName": queue_name, "msgBody": f"{BODY}{number}"})
    return time.perf_counter() - started


def measure_waiters(base_url: str) -> WaitersResult:
    """WAITERS sends to a queue nobody waits on, then to one WAITERS consumers long-poll (each
    takes one message): how much the waiting slows the senders."""
    sender = cmq_client(base_url)
    create_queue(sender, "nobody-waits")
    create_queue(sender, "everybody-waits")
    idle = timed_sends(sender, "nobody-waits", WAITERS)
    received: list[int] = []

    def consume() -> None:
        client = cmq_client(base_url)
        params = {"queueName": "everybody-waits", "pollingWaitSeconds": 30}
        if receive(client, "ReceiveMessage", params, 30):
            received.append(1)

    consumers = [threading.Thread(target=consume, daemon=True) for _ in range(WAITERS)]
    for consumer in consumers:
        consumer.start()
    time.sleep(3.0)  # every long poll has reached the server and waits
    busy = timed_sends(sender, "everybody-waits", WAITERS)
    for consumer in consumers:
        consumer.join(timeout=60)
    return WaitersResult(idle, busy, len(received))


def bench_database(kind: str, options: Options) -> DbResult:
    progress(f"{kind}: starting a fresh server")
    with fresh_server(kind) as server:
        progress(f"{kind}: one message per call, {CLIENTS} clients")
        single = batchd_throughput(server, single_cycle, options)
        progress(f"{kind}: {BATCH} messages per call, {CLIENTS} clients")
        batched = batchd_throughput(server, batch_cycle, options)
        progress(f"{kind}: publish -> receive latency, {options.latency_messages} messages")
        latency = measure_latency(server.base_url, options)
        progress(f"{kind}: {WAITERS} sends with {WAITERS} consumers long-polling, and without")
        waiters = measure_waiters(server.base_url)
        found = None
        if options.profile:
            progress(f"{kind}: profile of the server under one message per call")
            found = profile_single(server, options)
        progress(f"{kind}: stopping the server")
    progress(f"{kind}: server stopped")
    return DbResult(single, batched, latency, waiters, found)


def profile_single(server: Batchd, options: Options) -> Profile | str:
    """The one-per-call workload again, with py-spy sampling the server."""
    missing = available()
    if missing is not None:
        return missing
    recording = record(server.process.pid, math.ceil(options.warmup + options.duration))
    batchd_throughput(server, single_cycle, options)
    return recording.result()


# --- report ---------------------------------------------------------------------------------


def rate_cell(rate: float, goal: float | None = None) -> str:
    mark = "" if goal is None else f" {verdict(rate >= goal)}"
    return f"{rate:,.0f}/s{mark}"


def ms_cell(value: float, goal: float) -> str:
    return f"{value:,.1f} ms {verdict(value <= goal)}"


def result_column(result: DbResult, rabbit: RabbitResult) -> list[str]:
    """The measured cells of one database kind, in the order of ROW_LABELS."""
    ratio = result.single.rate / rabbit.window.rate
    cells = [
        rate_cell(result.single.rate),
        rate_cell(result.batched.rate, GOAL_BATCH),
        ms_cell(result.latency.percentile(50), GOAL_P50_MS),
        ms_cell(result.latency.percentile(99), GOAL_P99_MS),
        f"{result.waiters.ratio:.2f}x {verdict(result.waiters.ratio <= GOAL_WAITERS_RATIO)}",
    ]
    return [
        *cells,
        rate_cell(rabbit.window.rate),
        f"{ratio:.2f}x {verdict(ratio >= GOAL_RABBIT_RATIO)}",
    ]


ROW_LABELS = [
    ("send -> receive -> delete, 1 per call", ""),
    ("send -> receive -> delete, 16 per call", f">= {GOAL_BATCH:,.0f}/s"),
    ("publish -> receive latency p50", f"<= {GOAL_P50_MS:.0f} ms"),
    ("publish -> receive latency p99", f"<= {GOAL_P99_MS:.0f} ms"),
    (f"{WAITERS} sends, {WAITERS} consumers waiting / none", f"<= {GOAL_WAITERS_RATIO:.0f}x"),
    ("RabbitMQ publish -> get -> ack, 1 per call", "(same run)"),
    ("batchd / RabbitMQ, 1 per call", f">= {GOAL_RABBIT_RATIO:.1f}x"),
]


def goal_table(results: dict[str, DbResult], rabbit: RabbitResult) -> list[str]:
    columns = [result_column(result, rabbit) for result in results.values()]
    rows = [
        [label, goal, *(column[i] for column in columns)]
        for i, (label, goal) in enumerate(ROW_LABELS)
    ]
    return table(["metric", "goal", *results], rows)


def detail_lines(results: dict[str, DbResult], rabbit: RabbitResult) -> list[str]:
    lines = []
    for kind, result in results.items():
        lines += [
            f"{kind}:",
            f"  1 per call:  {window_detail(result.single)}",
            f"  16 per call: {window_detail(result.batched)}",
            f"  latency: {latency_detail(result.latency)}",
            f"  {WAITERS} sends: {result.waiters.idle_seconds:.2f} s with nobody waiting, "
            f"{result.waiters.busy_seconds:.2f} s with {WAITERS} consumers long-polling "
            f"({result.waiters.received} of them got a message)",
        ]
    w = rabbit.window
    lines += [
        f"RabbitMQ {rabbit.version}:",
        f"  1 per call:  {w.messages:,} messages in {w.seconds:.2f} s; {w.cpu_text('beam.smp')}",
    ]
    for kind, result in results.items():
        lines += ["", *where_the_time_goes(kind, result, rabbit)]
    return lines


def where_the_time_goes(kind: str, result: DbResult, rabbit: RabbitResult) -> list[str]:
    """Per workload: the CPU a message costs the server and this client, what that allows on
    this machine's cores, and the server's budget at the goal; then the server's profile under
    one message per call."""
    goal = GOAL_RABBIT_RATIO * rabbit.window.rate
    lines = [
        f"{kind}, where the time goes:",
        *cpu_budget(
            "1 per call", result.single, goal, f"{GOAL_RABBIT_RATIO:g}x RabbitMQ = {goal:,.0f}"
        ),
        *cpu_budget(f"{BATCH} per call", result.batched, GOAL_BATCH, f"{GOAL_BATCH:,.0f}"),
    ]
    return lines + profile_lines(result.profile, "profile, 1 per call", "  ")


def cpu_budget(name: str, window: Window, goal: float, goal_text: str) -> list[str]:
    server_ms = window.cpu_ms_per_message(window.usage.server_cpu)
    client_ms = window.cpu_ms_per_message(window.usage.client_cpu)
    cores = len(os.sched_getaffinity(0))
    budget_ms = cores * 1000 / goal - client_ms
    lines = [
        f"  {name}: CPU per message: server {server_ms:.3f} ms, bench client {client_ms:.3f} ms; "
        f"on {cores} cores that allows at most {cores * 1000 / (server_ms + client_ms):,.0f} "
        f"msg/s, and this client alone at most {cores * 1000 / client_ms:,.0f} msg/s",
    ]
    if budget_ms > 0:
        lines.append(
            f"    the goal ({goal_text} msg/s) leaves the server {budget_ms:.3f} ms of CPU per "
            f"message ({budget_ms / server_ms:.0%} of now)"
        )
    else:
        lines.append(
            f"    the goal ({goal_text} msg/s) is more than this client can drive on {cores} "
            "cores, whatever the server costs"
        )
    return lines


def latency_detail(lat: LatencyResult) -> str:
    low = min(lat.latencies_ms, default=math.nan)
    high = max(lat.latencies_ms, default=math.nan)
    return (
        f"{len(lat.latencies_ms)}/{lat.published} received (published at "
        f"{lat.publish_rate:.0f}/s), lost {lat.lost}, duplicates {lat.duplicates}; "
        f"min {low:.1f} ms, p90 {lat.percentile(90):.1f} ms, max {high:.1f} ms"
    )


def window_detail(window: Window) -> str:
    return (
        f"{window.messages:,} messages in {window.seconds:.2f} s; "
        f"{window.usage.commits / window.seconds:,.0f} group commits/s of "
        f"{window.units_per_commit:.1f} requests;\n"
        f"               {window.cpu_text('server')}"
    )


def report(options: Options, results: dict[str, DbResult], rabbit: RabbitResult) -> None:
    print()
    print(
        f"Results: {CLIENTS} clients, {options.duration:g} s per throughput phase after a "
        f"{options.warmup:g} s warm-up, {len(BODY)}-byte bodies; latency: "
        f"{options.latency_messages} publishes at {options.publish_rate:g}/s, consumer "
        f"long-polling {LONG_POLL_SECONDS} s"
    )
    print()
    for line in goal_table(results, rabbit):
        print(line)
    print()
    for line in detail_lines(results, rabbit):
        print(line)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(sys.argv[1:] if argv is None else argv)
    exit_on_sigterm()
    print_header("batchd message-service benchmark")
    results = {kind: bench_database(kind, options) for kind in options.databases}
    progress(f"RabbitMQ: one message per call, {CLIENTS} clients")
    rabbit = rabbitmq_throughput(options)
    report(options, results, rabbit)
    print()
    print_closing()
    return 0


if __name__ == "__main__":
    sys.exit(main())
