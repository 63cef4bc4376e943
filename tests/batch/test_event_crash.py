"""Events across crashes: batchd is killed with kill -9 at random moments while jobs run, and
every stored event still reaches the subscribed queue exactly once and matches the final state.

The stored events are read back with the batchd extension action DescribeEvents. What is proven
after the last restart, once every job has ended and the environment is deleted: the queue held
each stored event exactly once and nothing else, in the order of its resource's transitions
(Sequence 1, 2, 3... per job, node and environment); every job, task and instance has exactly one
final event, the one of its final state. An attempt lost in a crash before its RUNNING event
committed has no RUNNING event (no transition, no event), so per instance the RUNNING events
carry distinct, increasing Attempt values up to the last attempt (the one that succeeded always
among them), and the attempts beyond the first are at most the kills the job lived through.

The delays and the workload come from a seed that is printed (and shown on failure); set
EVENT_CRASH_SEED to replay a run, and EVENT_CRASH_ROUNDS for more rounds (bench/crash.py).
Replaying gives the same jobs and the same delays, not the same interleaving: the server's timing
is the machine's.
"""

from __future__ import annotations

import base64
import json
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from batchd.domain import events as catalogue
from tests.batch.conftest import BatchApi, command_task
from tests.support import CmqAccounts, RunningServer, ServerProcess, wait_until

# kill -9 + restart, per database; bench/crash.py runs more (EVENT_CRASH_ROUNDS)
ROUNDS = int(os.environ.get("EVENT_CRASH_ROUNDS", "10"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120 + 30 * ROUNDS)]

MAX_DELAY = 2.0  # s: each kill comes a random 0..MAX_DELAY s after the round's submissions
MAX_RETRY = 10  # the API's maximum: an attempt lost in a crash is retried
NODES = 2
COMMANDS = ("sleep 0.05", "sleep 0.25")  # the longer one is more often killed while RUNNING
TOPIC, QUEUE = "crash-events", "crash-queue"
JOB_SUBSCRIBED = frozenset(catalogue.JOB_EVENTS + catalogue.TASK_EVENTS + catalogue.INSTANCE_EVENTS)
ENV_SUBSCRIBED = frozenset(catalogue.ENV_EVENTS + catalogue.NODE_EVENTS)
INSTANCE_FINAL = {
    "TASK_INSTANCE_SUCCEED": "SUCCEED",
    "TASK_INSTANCE_FAILED": "FAILED",
    "TASK_INSTANCE_FAILED_INTERRUPTED": "FAILED_INTERRUPTED",
}
TASK_FINAL = {"TASK_SUCCEED": "SUCCEED", "TASK_FAILED": "FAILED"}
JOB_FINAL = {"JOB_SUCCEED": "SUCCEED", "JOB_FAILED": "FAILED"}


@dataclass(frozen=True, slots=True)
class StoredRow:
    event_id: str
    owner_id: str
    resource_id: str
    name: str
    sequence: int
    body: dict[str, Any]
    event_time: str
    undeliverable: str | None


@dataclass(slots=True)
class Workload:
    """What the test submitted, and how many kills each job lived through."""

    env_id: str = ""
    job_ids: list[str] = field(default_factory=list)
    kills_after: dict[str, int] = field(default_factory=dict)  # job -> kills after its submit
    lineage: list[tuple[int, int]] = field(default_factory=list)  # (pid, start) of our processes


@pytest.fixture
def process(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "data", database_url)
    try:
        server.start()  # inside: a server that never got healthy is stopped too
        yield server
    finally:
        server.stop()


@pytest.fixture
def seed() -> int:
    given = os.environ.get("EVENT_CRASH_SEED")
    value = int(given) if given else random.SystemRandom().randrange(2**32)
    print(f"event crash seed: {value} (replay with EVENT_CRASH_SEED={value})")
    return value


def _api(process: ServerProcess) -> BatchApi:
    return BatchApi(RunningServer(process.base_url, process.data_dir, process.database_url))


def _descendants(pid: int) -> list[tuple[int, int]]:
    """(pid, start time) of every live descendant of `pid` (Linux /proc)."""
    parents: dict[int, int] = {}
    starts: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] not in ("Z", "X"):
            parents[int(entry.name)] = int(fields[1])
            starts[int(entry.name)] = int(fields[19])
    found: list[tuple[int, int]] = []
    frontier = {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier}
        found += [(child, starts[child]) for child in children]
        frontier = children
    return found


def _alive(process: tuple[int, int]) -> bool:
    pid, start = process
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] not in ("Z", "X") and int(fields[19]) == start


def _kill_9(process: ServerProcess, workload: Workload) -> None:
    assert process.process is not None
    workload.lineage += _descendants(process.process.pid)
    process.kill()


def _topic_with_queue(account: Any) -> None:
    from cmq.queue import QueueMeta
    from cmq.subscription import SubscriptionMeta
    from cmq.topic import TopicMeta

    account.get_queue(QUEUE).create(QueueMeta())
    account.get_topic(TOPIC).create(TopicMeta())
    meta = SubscriptionMeta()
    meta.Protocal, meta.Endpoint, meta.NotifyContentFormat = "queue", QUEUE, "SIMPLIFIED"
    account.get_subscription(TOPIC, "crash-sub").create(meta)


def _notifications(names: frozenset[str]) -> list[dict[str, Any]]:
    return [{"TopicName": TOPIC, "EventConfigs": [{"EventName": n} for n in sorted(names)]}]


def _create_env(batch: BatchApi) -> str:
    compute_env = {
        "EnvName": "crash-env",
        "DesiredComputeNodeCount": NODES,
        "EnvData": {"InstanceType": "S5.SMALL1"},
        "Notifications": _notifications(ENV_SUBSCRIBED),
    }
    answer = batch(
        "CreateComputeEnv",
        {"ComputeEnv": compute_env, "Placement": {"Zone": "ap-guangzhou-2"}},
    )
    return str(answer["EnvId"])


def _submit(batch: BatchApi, rng: random.Random, env_id: str, name: str) -> str:
    """A job of one task of 4-10 instances, half of the time followed by a dependent task of
    2-6: enough work that the server is mostly busy with transitions when it is killed."""
    tasks = [
        command_task(
            "first",
            env_id,
            rng.choice(COMMANDS),
            TaskInstanceNum=rng.randint(4, 10),
            MaxRetryCount=MAX_RETRY,
        )
    ]
    dependences = []
    if rng.random() < 0.5:
        tasks.append(
            command_task(
                "then",
                env_id,
                rng.choice(COMMANDS),
                TaskInstanceNum=rng.randint(2, 6),
                MaxRetryCount=MAX_RETRY,
            )
        )
        dependences.append({"StartTask": "first", "EndTask": "then"})
    return batch.submit(
        tasks,
        JobName=name,
        Dependences=dependences,
        Notifications=_notifications(JOB_SUBSCRIBED),
    )


def _started(batch: BatchApi, job_id: str) -> bool:
    """Whether an instance of the job has launched its command (or already ended)."""
    metrics = batch("DescribeJob", {"JobId": job_id})["TaskInstanceMetrics"]
    return bool(metrics["RunningCount"] + metrics["SucceedCount"] + metrics["FailedCount"])


def _run_with_crashes(process: ServerProcess, rng: random.Random, workload: Workload) -> None:
    """Each round submits 1-2 jobs and kills the server a random delay later. The delay starts
    right after the submissions in half of the rounds (the kill often lands while nodes start
    again and attempts wait for them), and once an instance of the round's first job has
    launched in the other half (it lands while instances run and finish)."""
    batch = _api(process)
    workload.env_id = _create_env(batch)
    for round_ in range(ROUNDS):
        submitted = []
        for n in range(rng.randint(1, 2)):
            submitted.append(_submit(batch, rng, workload.env_id, f"crash-{round_}-{n}"))
        workload.job_ids += submitted
        workload.kills_after.update(dict.fromkeys(submitted, 0))
        after_launch = rng.random() < 0.5
        if after_launch:
            wait_until(partial(_started, batch, submitted[0]), timeout=60, interval=0.02)
        delay = rng.uniform(0.0, MAX_DELAY)
        time.sleep(delay)
        _kill_9(process, workload)
        for job_id in workload.job_ids:
            workload.kills_after[job_id] += 1
        anchor = "a first instance launched" if after_launch else "submitting"
        print(f"round {round_}: kill -9 {delay:.3f} s after {anchor}")
        process.start()
        batch = _api(process)


def _final_states(batch: BatchApi, workload: Workload) -> dict[tuple[str, ...], str]:
    """Final state by (job,), (job, task) and (job, task, index), from the Batch API."""
    states: dict[tuple[str, ...], str] = {}
    for job_id in workload.job_ids:
        job = batch.finished(job_id, timeout=120)
        states[(job_id,)] = job["JobState"]
        for task in job["TaskSet"]:
            name = task["TaskName"]
            states[(job_id, name)] = task["TaskState"]
            answer = batch("DescribeTask", {"JobId": job_id, "TaskName": name, "Limit": 100})
            for view in answer["TaskInstanceSet"]:
                states[(job_id, name, str(view["TaskInstanceIndex"]))] = view["TaskInstanceState"]
    return states


def _delete_env(batch: BatchApi, env_id: str) -> None:
    batch("DeleteComputeEnv", {"EnvId": env_id})

    def gone() -> bool:
        try:
            batch("DescribeComputeEnv", {"EnvId": env_id})
        except Exception as error:
            return "ResourceNotFound" in str(error)
        return False

    wait_until(gone, timeout=60, interval=0.2)


def _drain(account: Any) -> list[dict[str, Any]]:
    """Receive and delete until the queue stays empty for 2 s; the events in arrival order."""
    from cmq.cmq_exception import CMQServerException

    queue = account.get_queue(QUEUE)
    received: list[dict[str, Any]] = []
    empty_polls = 0
    while empty_polls < 2:
        try:
            messages = queue.batch_receive_message(16, 1)
        except CMQServerException as error:
            if error.code != 7000:
                raise
            empty_polls += 1
            continue
        empty_polls = 0
        for message in messages:
            envelope = json.loads(base64.b64decode(message.msgBody))
            assert len(envelope["Events"]) == 1
            received.append(envelope["Events"][0])
        queue.batch_delete_message([message.receiptHandle for message in messages])
    attributes = queue.get_attributes()
    assert (attributes.activeMsgNum, attributes.inactiveMsgNum) == (0, 0)
    return received


def _stored_events(batch: BatchApi, owners: list[str]) -> list[StoredRow]:
    """Every stored event of these jobs and environments, through the batchd extension action
    DescribeEvents (the official SDK's generic `call_json`), oldest first per owner."""
    rows = []
    for owner_id in owners:
        page: list[dict[str, Any]] = []
        while True:
            params = {"OwnerId": owner_id, "Offset": len(page), "Limit": 100}
            answer = batch.client.call_json("DescribeEvents", params)["Response"]
            page += answer["EventSet"]
            if len(page) >= answer["TotalCount"] or not answer["EventSet"]:
                break
        assert len(page) == answer["TotalCount"]
        rows += [
            StoredRow(
                item["EventId"],
                owner_id,
                item["ResourceId"],
                item["EventName"],
                item["Sequence"],
                item["Event"]["Batch"],
                item["EventTime"],
                item["Undeliverable"],
            )
            for item in page
        ]
    return rows


def _check_delivery(received: list[dict[str, Any]], stored: list[StoredRow], w: Workload) -> None:
    """The queue holds each stored event that asked for the topic exactly once, nothing else,
    and each message says what its stored event says."""
    subscribed = {w.env_id: ENV_SUBSCRIBED, **dict.fromkeys(w.job_ids, JOB_SUBSCRIBED)}
    assert len({row.event_id for row in stored}) == len(stored), "an EventId stored twice"
    expected = {row.event_id: row for row in stored if row.name in subscribed[row.owner_id]}
    assert [row for row in stored if row.undeliverable is not None] == []
    counts = Counter(event["EventId"] for event in received)
    duplicates = {event_id: n for event_id, n in counts.items() if n > 1}
    assert duplicates == {}, "events delivered more than once"
    missing = [(r.name, r.resource_id, r.sequence) for r in stored if r.event_id not in counts]
    assert missing == [], f"{len(missing)} stored events never delivered"
    assert counts.keys() - expected.keys() == set(), "messages of no stored event"
    for owner_id in subscribed:
        in_store = [r.event_id for r in stored if r.owner_id == owner_id and r.event_id in expected]
        owned = [e["EventId"] for e in received if expected[e["EventId"]].owner_id == owner_id]
        assert owned == in_store, f"events of {owner_id} out of their stored order"
    for event in received:
        row = expected[event["EventId"]]
        assert (event["EventName"], event["Sequence"], event["Batch"]) == (
            row.name,
            row.sequence,
            row.body,
        )
        assert event["EventTime"] == row.event_time


def _check_sequences(received: list[dict[str, Any]], w: Workload) -> None:
    """Per job, per node and per env: 1, 2, 3... in the order received."""
    by_counter: dict[str, list[int]] = defaultdict(list)
    for event in received:
        batch = event["Batch"]
        if event["EventName"].startswith("COMPUTE_NODE_"):
            key = batch["ComputeNodeId"]
        elif event["EventName"].startswith("COMPUTE_ENV_"):
            key = batch["EnvId"]
        else:
            key = batch["JobId"]
        by_counter[key].append(event["Sequence"])
    assert set(w.job_ids) <= by_counter.keys()
    for key, sequences in by_counter.items():
        assert sequences == list(range(1, len(sequences) + 1)), f"sequences of {key}"


def _check_states(
    received: list[dict[str, Any]], states: dict[tuple[str, ...], str], w: Workload
) -> None:
    """Every instance, task and job has exactly one final event, matching its final state; the
    RUNNING events count the attempts that launched their command, each attempt once."""
    by_key: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for event in received:
        batch = event["Batch"]
        if event["EventName"].startswith("TASK_INSTANCE_"):
            key: tuple[str, ...] = (
                batch["JobId"],
                batch["TaskName"],
                str(batch["TaskInstanceIndex"]),
            )
        elif event["EventName"].startswith("TASK_"):
            key = (batch["JobId"], batch["TaskName"])
        elif event["EventName"].startswith("JOB_"):
            key = (batch["JobId"],)
        else:
            continue
        by_key[key].append(event)
    assert by_key.keys() <= states.keys(), "events of instances the API does not know"
    for key, state in states.items():
        events = by_key[key]
        names = [e["EventName"] for e in events]
        finals = {1: JOB_FINAL, 2: TASK_FINAL, 3: INSTANCE_FINAL}[len(key)]
        final = [name for name in names if name in finals]
        assert [finals[name] for name in final] == [state], f"{key}: {names} but {state}"
        assert names[-1] == final[0], f"{key}: an event after the final one: {names}"
        running = [e for e in events if e["EventName"].endswith("_RUNNING")]
        if len(key) < 3:
            assert len(running) <= 1, f"{key}: RUNNING more than once: {names}"
            continue
        attempts = [e["Batch"]["Attempt"] for e in running]
        last = events[-1]["Batch"]["Attempt"]
        # Only a crash ends an attempt of `sleep` early: an attempt per kill at most.
        assert last <= 1 + w.kills_after[key[0]], f"{key}: {last} attempts"
        assert attempts == sorted(set(attempts)), f"{key}: RUNNING attempts {attempts}"
        assert set(attempts) <= set(range(1, last + 1)), f"{key}: {attempts} of {last}"
        if state == "SUCCEED":
            assert attempts[-1:] == [last], f"{key}: succeeded without RUNNING: {names}"
    for job_id in w.job_ids:
        ran = any(
            e["EventName"] == "TASK_INSTANCE_RUNNING"
            for key, events in by_key.items()
            if key[0] == job_id
            for e in events
        )
        job_names = [e["EventName"] for e in by_key[(job_id,)]]
        assert job_names.count("JOB_RUNNING") == int(ran), f"{job_id}: {job_names}"


def _crash_marks(received: list[dict[str, Any]]) -> str:
    """How much the crashes hit: retried instances, attempts lost before RUNNING, nodes lost."""
    last: dict[tuple[str, str, int], int] = {}
    running: Counter[tuple[str, str, int]] = Counter()
    for event in received:
        batch = event["Batch"]
        if event["EventName"].startswith("TASK_INSTANCE_"):
            key = (batch["JobId"], batch["TaskName"], batch["TaskInstanceIndex"])
            last[key] = batch["Attempt"]
            running[key] += event["EventName"] == "TASK_INSTANCE_RUNNING"
    retried = sum(1 for attempts in last.values() if attempts > 1)
    unseen = sum(attempts - running[key] for key, attempts in last.items())
    rerun = sum(1 for n in running.values() if n > 1)
    abnormal = sum(1 for e in received if e["EventName"] == "COMPUTE_NODE_ABNORMAL")
    return (
        f"{retried} of {len(last)} instances retried ({rerun} RUNNING in several attempts), "
        f"{unseen} attempts lost before RUNNING, {abnormal} COMPUTE_NODE_ABNORMAL"
    )


def test_every_event_is_delivered_exactly_once_across_kill_9(
    process: ServerProcess, cmq_accounts: CmqAccounts, seed: int
) -> None:
    rng = random.Random(seed)
    _topic_with_queue(cmq_accounts(process.base_url))
    workload = Workload()
    started = time.monotonic()

    _run_with_crashes(process, rng, workload)

    batch = _api(process)
    states = _final_states(batch, workload)
    _delete_env(batch, workload.env_id)
    received = _drain(cmq_accounts(process.base_url))
    stored = _stored_events(batch, [workload.env_id, *workload.job_ids])
    assert process.process is not None
    workload.lineage += _descendants(process.process.pid)
    process.stop()
    print(
        f"{len(workload.job_ids)} jobs, {len(stored)} events, {len(received)} messages, "
        f"final job states {dict(Counter(states[(j,)] for j in workload.job_ids))}, "
        f"{time.monotonic() - started:.1f} s; {_crash_marks(received)}"
    )

    _check_delivery(received, stored, workload)
    _check_sequences(received, workload)
    _check_states(received, states, workload)
    # No worker or command of any of the killed servers is left running.
    wait_until(lambda: not any(_alive(p) for p in workload.lineage), timeout=30, interval=0.2)
