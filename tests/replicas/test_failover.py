"""Fail-over: two `batchd serve` replicas on one PostgreSQL database are one service, and kill -9
of the leader while jobs run hands the lead to the other within 15 s and loses nothing.

Each round submits 1-FAILOVER_JOBS jobs with notifications (every job, task and instance event
to a topic a queue subscribes to; MaxRetryCount so that an attempt lost with its node is
retried), alternately to the two replicas; kills the leader (the one whose /healthz says
"leader") a random moment later, measures the time until the other says "leader" (/healthz
polled every 50 ms) and starts the killed one again on its data directory and port, where it must
come back as a follower. All the while a client thread per replica sends it requests (a numbered
SendMessage to a probe queue, then a DescribeJobs), and every outcome is kept.

What is proven at the end: the new leader came within 15 s of each kill; every job submitted to
either replica ends SUCCEED; every stored event reached its subscribed queue exactly once, in
order and consistent with the final states (the proof of tests/batch/test_event_crash.py, whose
checks are used as they are); the replica that stayed up failed no request during a hand-over
and no replica failed one outside them; every acknowledged SendMessage is in the probe queue
exactly once; no process of a killed replica outlives it for long.

Printed: each round's kill and hand-over, the time to a new leader (p50, max), the requests
failed during the hand-overs, and the totals. The seed is printed (FAILOVER_SEED replays the jobs
and the delays); FAILOVER_ROUNDS and FAILOVER_JOBS make a longer run (bench/failover.py).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from batchd.cli.batch_client import BatchApiError, BatchClient
from batchd.cli.client import CmqClient, CmqError
from tests.batch.conftest import BatchApi
from tests.batch.test_event_crash import (
    Workload,
    _alive,
    _check_delivery,
    _check_sequences,
    _check_states,
    _crash_marks,
    _create_env,
    _delete_env,
    _descendants,
    _drain,
    _final_states,
    _started,
    _stored_events,
    _submit,
    _topic_with_queue,
)
from tests.support import CREDENTIAL, CmqAccounts, RunningServer, free_port, wait_until

ROUNDS = int(os.environ.get("FAILOVER_ROUNDS", "2"))  # leader kills; bench/failover.py runs more
JOBS = int(os.environ.get("FAILOVER_JOBS", "2"))  # at most this many jobs a round

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120 + 40 * ROUNDS)]

LEAD_WITHIN = 15.0  # s: the bound from kill -9 of the leader to another leading
HEALTH_POLL = 0.05  # s between /healthz calls while no replica leads
MAX_DELAY = 1.5  # s: each kill comes a random 0..MAX_DELAY s after its anchor
START_TIMEOUT = 60.0  # s for a replica to answer /healthz (the first one migrates the database)
PROBE_PAUSE = 0.05  # s between a probe thread's request pairs
PROBE_QUEUE = "failover-probe"
REGION = "ap-guangzhou"


# --- replicas -----------------------------------------------------------------------------


class Replica:
    """One `batchd serve` of the service: its own data directory and port, the shared database,
    the test's key. A session of its own, so that a kill -9 of it is the server's alone."""

    def __init__(self, name: str, data_dir: Path, database_url: str) -> None:
        self.name = name
        self.data_dir = data_dir
        self.database_url = database_url
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.lineage: list[tuple[int, int]] = []  # (pid, start time) of all it ever ran

    def start(self) -> None:
        """Started, and answering /healthz; a replica that exits or never answers fails the
        test with its log."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHD_")}
        env.update(
            BATCHD_APPID=CREDENTIAL.app_id,
            BATCHD_SECRET_ID=CREDENTIAL.secret_id,
            BATCHD_SECRET_KEY=CREDENTIAL.secret_key,
        )
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- test: start {self.starts} of {self.name} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "batchd.app", "serve"),
                    *("--database-url", self.database_url),
                    *("--data-dir", str(self.data_dir)),
                    *("--host", "127.0.0.1", "--port", str(self.port)),
                    *("--log-level", "INFO"),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while self.health() is None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                code = self.process.poll()
                raise AssertionError(
                    f"{self.name} did not start (exit code {code}):\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def health(self) -> dict[str, Any] | None:
        """The /healthz answer, or None when the replica does not answer 200."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=1) as response:
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except (OSError, ValueError):
            return None

    def role(self) -> str | None:
        answer = self.health()
        return None if answer is None else str(answer.get("role"))

    def kill(self) -> None:
        """kill -9 of the server process alone: its nodes and their commands are left to notice
        by themselves, as after a real crash."""
        assert self.process is not None
        self._note_family()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        """SIGTERM, SIGKILL after 40 s."""
        if self.process is None:
            return
        self._note_family()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def _note_family(self) -> None:
        """Remember the server and every process it has started so far, by (pid, start time)."""
        assert self.process is not None
        pid = self.process.pid
        self.lineage += [(pid, _start_time(pid)), *_descendants(pid)]

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return f"--- {self.log_path} ---\n" + self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return f"--- {self.log_path}: no log ---"

    def api(self) -> BatchApi:
        return BatchApi(RunningServer(self.base_url, self.data_dir, self.database_url))


def _start_time(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


def _leader(replicas: list[Replica], timeout: float = 30.0) -> int:
    """The index of the replica that leads, once exactly one of them says so."""
    leaders: list[int] = []

    def one_leads() -> bool:
        leaders[:] = [i for i, replica in enumerate(replicas) if replica.role() == "leader"]
        return len(leaders) == 1

    try:
        wait_until(one_leads, timeout=timeout, interval=HEALTH_POLL)
    except AssertionError:
        raise AssertionError(
            f"not exactly one leader after {timeout:g} s: {[r.health() for r in replicas]}\n"
            + "\n".join(r.log_tail() for r in replicas)
        ) from None
    return leaders[0]


def _answer(replica: Replica, timeout: float = 30.0) -> dict[str, Any]:
    """The replica's /healthz answer, asked again while one takes longer than 1 s (a busy
    machine) or fails."""
    answers: list[dict[str, Any]] = []

    def answered() -> bool:
        answer = replica.health()
        answers[:] = [] if answer is None else [answer]
        return bool(answers)

    wait_until(answered, timeout=timeout, interval=HEALTH_POLL)
    return answers[0]


def _epoch(replica: Replica) -> int:
    return int(_answer(replica)["epoch"])


# --- the probe: requests to both replicas all along -------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    replica: int
    started: float  # monotonic
    ended: float
    outcome: str  # ok, refused (no connection), cut (the connection broke), timeout, error
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome != "ok"


@dataclass(slots=True)
class Prober:
    """A thread per replica sending it, until stopped, a numbered SendMessage to the probe queue
    and then a DescribeJobs, PROBE_PAUSE s apart; the outcome of every request is kept, and the
    bodies of the acknowledged sends."""

    replicas: list[Replica]
    probes: list[Probe] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)
    sent: set[str] = field(default_factory=set)
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for index in range(len(self.replicas)):
            thread = threading.Thread(target=self._loop, args=(index,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=30)
        self.threads.clear()

    def _loop(self, index: int) -> None:
        url = self.replicas[index].base_url
        cred = CREDENTIAL
        cmq = CmqClient(url, cred.secret_id, cred.secret_key, timeout=10)
        batch = BatchClient(url, cred.secret_id, cred.secret_key, REGION, timeout=10)
        try:
            for n in itertools.count():
                if self.stop_event.is_set():
                    return
                body = f"probe-{index}-{n}"
                self.sent.add(body)
                params = {"queueName": PROBE_QUEUE, "msgBody": body}
                if self._request(index, partial(cmq.call, "SendMessage", params)):
                    self.acknowledged.add(body)
                self._request(index, partial(batch.call, "DescribeJobs", {"Limit": 1}))
                self.stop_event.wait(PROBE_PAUSE)
        finally:
            cmq.close()
            batch.close()

    def _request(self, index: int, call: Callable[[], object]) -> bool:
        started = time.monotonic()
        outcome, detail = "ok", ""
        try:
            call()
        except httpx.ConnectError as error:
            outcome, detail = "refused", repr(error)
        except httpx.TimeoutException as error:
            outcome, detail = "timeout", repr(error)
        except httpx.TransportError as error:
            outcome, detail = "cut", repr(error)
        except (CmqError, BatchApiError) as error:
            outcome, detail = "error", str(error)
        except Exception as error:  # kept as a failure rather than ending the thread
            outcome, detail = "error", repr(error)
        self.probes.append(Probe(index, started, time.monotonic(), outcome, detail))
        return outcome == "ok"


def _drain_probe_queue(base_url: str) -> list[str]:
    """Every body in the probe queue, received and deleted until it answers 'no message'."""
    cmq = CmqClient(base_url, CREDENTIAL.secret_id, CREDENTIAL.secret_key)
    bodies: list[str] = []
    try:
        while True:
            params = {"queueName": PROBE_QUEUE, "numOfMsg": 16, "pollingWaitSeconds": 0}
            try:
                got = cmq.call("BatchReceiveMessage", params)
            except CmqError as error:
                if error.code != 7000:
                    raise
                return bodies
            messages = got["msgInfoList"]
            bodies += [str(message["msgBody"]) for message in messages]
            handles = {
                f"receiptHandle.{i}": m["receiptHandle"] for i, m in enumerate(messages, start=1)
            }
            cmq.call("BatchDeleteMessage", {"queueName": PROBE_QUEUE, **handles})
    finally:
        cmq.close()


# --- hand-overs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandOver:
    killed: int  # replica index
    survivor: int
    killed_at: float  # monotonic: the SIGKILL
    led_at: float  # the first /healthz of the survivor that said "leader"
    back_at: float  # the killed replica answered /healthz again, as a follower

    @property
    def to_leader(self) -> float:
        return self.led_at - self.killed_at

    def covers(self, probe: Probe) -> bool:
        return probe.started <= self.back_at and probe.ended >= self.killed_at


def _wait_leads(replica: Replica, since: float) -> float:
    """The moment the replica first says "leader", polling every HEALTH_POLL s; gives up
    (returning the moment it did) LEAD_WITHIN + 15 s after `since`."""
    give_up = since + LEAD_WITHIN + 15
    while True:
        role = replica.role()
        now = time.monotonic()
        if role == "leader" or now > give_up:
            return now
        time.sleep(HEALTH_POLL)


def _hand_over_line(
    round_: int, replicas: list[Replica], hand_over: HandOver, probes: list[Probe]
) -> str:
    during = [p for p in probes if hand_over.covers(p)]
    kept = [p for p in during if p.replica == hand_over.survivor]
    dead = Counter(p.outcome for p in during if p.replica == hand_over.killed)
    others = sum(dead.values()) - dead["ok"] - dead["refused"] - dead["cut"]
    slowest = max((p.ended - p.started for p in kept), default=0.0)
    survivor, killed = replicas[hand_over.survivor].name, replicas[hand_over.killed].name
    return (
        f"round {round_} hand-over: {survivor} leads {hand_over.to_leader:.2f} s after the kill; "
        f"during the hand-over {survivor} failed {sum(p.failed for p in kept)} of {len(kept)} "
        f"requests (slowest {slowest:.2f} s), {killed} (killed) refused {dead['refused']}, cut "
        f"{dead['cut']}, failed otherwise {others}, answered {dead['ok']}; {killed} back as a "
        f"follower {hand_over.back_at - hand_over.killed_at:.1f} s after the kill"
    )


def _summary(hand_overs: list[HandOver], probes: list[Probe]) -> list[str]:
    times = sorted(h.to_leader for h in hand_overs)
    kept = [p for p in probes if any(h.covers(p) and p.replica == h.survivor for h in hand_overs)]
    dead = Counter(
        p.outcome for p in probes if any(h.covers(p) and p.replica == h.killed for h in hand_overs)
    )
    outside = [p for p in probes if not any(h.covers(p) for h in hand_overs)]
    others = sum(dead.values()) - dead["ok"] - dead["refused"] - dead["cut"]
    return [
        f"time to new leader: p50 {statistics.median(times):.2f} s, max {times[-1]:.2f} s over "
        f"{len(times)} kill -9s of the leader (bound {LEAD_WITHIN:g} s)",
        f"requests failed during the hand-overs: {sum(p.failed for p in kept)} of {len(kept)} "
        f"to the replica that stayed up; to the killed one {dead['refused']} refused, "
        f"{dead['cut']} cut in flight, {others} other failures, of {sum(dead.values())}; "
        f"outside the hand-overs {sum(p.failed for p in outside)} of {len(outside)}",
    ]


# --- the test ---------------------------------------------------------------------------------


@pytest.fixture
def seed() -> int:
    given = os.environ.get("FAILOVER_SEED")
    value = int(given) if given else random.SystemRandom().randrange(2**32)
    print(f"failover seed: {value} (replay with FAILOVER_SEED={value})")
    return value


@pytest.fixture
def replicas(replica_database_url: str, tmp_path: Path) -> Iterator[list[Replica]]:
    """Two replicas, not started yet; after the test each is stopped, and whatever any of them
    ever started that still runs is killed."""
    made = [Replica(f"r{i}", tmp_path / f"r{i}", replica_database_url) for i in range(2)]
    print("replica logs: " + ", ".join(str(r.log_path) for r in made))
    try:
        yield made
    finally:
        for replica in made:
            replica.stop()
        for pid, _ in [p for r in made for p in r.lineage if _alive(p)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_kill_9_of_the_leader_hands_over_and_loses_nothing(
    replicas: list[Replica], cmq_accounts: CmqAccounts, seed: int
) -> None:
    rng = random.Random(seed)
    started = time.monotonic()
    for replica in replicas:  # one after the other: the first migrates the database
        replica.start()
    apis = [replica.api() for replica in replicas]
    first = _leader(replicas)
    _topic_with_queue(cmq_accounts(replicas[1 - first].base_url))
    with contextlib.closing(
        CmqClient(replicas[first].base_url, CREDENTIAL.secret_id, CREDENTIAL.secret_key)
    ) as cmq:
        cmq.call("CreateQueue", {"queueName": PROBE_QUEUE})
    workload = Workload()
    # created through the follower: any replica answers anything
    workload.env_id = _create_env(apis[1 - first])
    prober = Prober(replicas)
    prober.start()
    hand_overs: list[HandOver] = []
    submitted_to: Counter[str] = Counter()
    try:
        for round_ in range(ROUNDS):
            leader = _leader(replicas)
            survivor = 1 - leader
            epoch = _epoch(replicas[leader])
            submitted = []
            for n in range(rng.randint(1, JOBS)):
                target = (len(workload.job_ids) + n) % len(replicas)
                submitted.append(
                    _submit(apis[target], rng, workload.env_id, f"failover-{round_}-{n}")
                )
                submitted_to[replicas[target].name] += 1
            workload.job_ids += submitted
            workload.kills_after.update(dict.fromkeys(submitted, 0))
            after_launch = rng.random() < 0.5
            if after_launch:
                wait_until(partial(_started, apis[survivor], submitted[0]), timeout=60)
            delay = rng.uniform(0.0, MAX_DELAY)
            time.sleep(delay)

            killed_at = time.monotonic()
            replicas[leader].kill()
            for job_id in workload.job_ids:
                workload.kills_after[job_id] += 1
            led_at = _wait_leads(replicas[survivor], killed_at)
            anchor = "a first instance launched" if after_launch else "submitting"
            print(
                f"round {round_}: kill -9 of the leader {replicas[leader].name} (epoch {epoch}) "
                f"{delay:.3f} s after {anchor}, {len(submitted)} jobs submitted this round"
            )
            assert led_at - killed_at <= LEAD_WITHIN, (
                f"no replica leads {led_at - killed_at:.1f} s after kill -9 of the leader\n"
                + "\n".join(r.log_tail() for r in replicas)
            )
            assert _epoch(replicas[survivor]) > epoch
            replicas[leader].start()
            back_at = time.monotonic()
            assert _answer(replicas[leader])["role"] == "follower"
            assert _answer(replicas[survivor])["role"] == "leader"
            hand_over = HandOver(leader, survivor, killed_at, led_at, back_at)
            hand_overs.append(hand_over)
            print(_hand_over_line(round_, replicas, hand_over, prober.probes))

        leader = _leader(replicas)
        states = _final_states(apis[1 - leader], workload)
        final = Counter(states[(job_id,)] for job_id in workload.job_ids)
        _delete_env(apis[leader], workload.env_id)
        received = _drain(cmq_accounts(replicas[leader].base_url))
        stored = _stored_events(apis[1 - leader], [workload.env_id, *workload.job_ids])
    finally:
        prober.stop()
    in_probe_queue = _drain_probe_queue(replicas[0].base_url)
    for replica in replicas:
        replica.stop()
    lineage = [process for replica in replicas for process in replica.lineage]

    for line in _summary(hand_overs, prober.probes):
        print(line)
    spread = ", ".join(f"{n} to {name}" for name, n in sorted(submitted_to.items()))
    print(
        f"{len(workload.job_ids)} jobs ({spread}), "
        f"{len(stored)} events, {len(received)} messages, final job states {dict(final)}, "
        f"{time.monotonic() - started:.1f} s; {_crash_marks(received)}"
    )

    assert final == {"SUCCEED": len(workload.job_ids)}, "every job ends SUCCEED, given retries"
    _check_delivery(received, stored, workload)
    _check_sequences(received, workload)
    _check_states(received, states, workload)
    _check_probes(prober, hand_overs, in_probe_queue)
    # No worker or command of a killed or stopped replica is left running.
    wait_until(lambda: not any(_alive(p) for p in lineage), timeout=30, interval=0.2)


def _check_probes(prober: Prober, hand_overs: list[HandOver], in_queue: list[str]) -> None:
    """The replica that stayed up failed nothing during a hand-over, nothing failed outside
    them, and every acknowledged send is in the probe queue once (one cut in flight may be)."""
    kept = [
        p
        for p in prober.probes
        if p.failed and any(h.covers(p) and p.replica == h.survivor for h in hand_overs)
    ]
    assert kept == [], "the replica that stayed up failed requests during a hand-over"
    outside = [p for p in prober.probes if p.failed and not any(h.covers(p) for h in hand_overs)]
    assert outside == [], "requests failed outside the hand-overs"
    counts = Counter(in_queue)
    assert {body: n for body, n in counts.items() if n > 1} == {}, "a probe message twice"
    assert prober.acknowledged - counts.keys() == set(), "acknowledged sends lost"
    assert counts.keys() <= prober.sent, "probe messages nobody sent"
