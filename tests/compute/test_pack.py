"""Packed attempts through LocalDaskBackend on real worker processes: each attempt of a pack keeps
its own start, end, logs and kill, and is reported exactly once, also when its worker dies."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from batchd.compute import guard, packing
from batchd.compute.backend import NodeSize
from batchd.compute.instance import InstanceSpec
from batchd.compute.local import LocalDaskBackend
from tests.compute.procfs import is_alive, live_group_members, read_pid
from tests.compute.recording import RecordingEvents, eventually

ENV_ID = "env-pack0001"
JOB_ID = "job-pack0001"


@dataclass
class Cluster:
    backend: LocalDaskBackend
    events: RecordingEvents
    nodes: list[str]


StartCluster = Callable[[int], Awaitable[Cluster]]


@pytest.fixture
async def start_cluster() -> AsyncIterator[StartCluster]:
    """Starts an environment of N one-slot nodes (real Nanny + worker processes)."""
    backends: list[LocalDaskBackend] = []

    async def start(nodes: int) -> Cluster:
        events = RecordingEvents()
        backend = LocalDaskBackend(events)
        backends.append(backend)
        names = [f"node-pack000{n}" for n in range(1, nodes + 1)]
        await backend.open_env(ENV_ID)
        await backend.add_nodes(ENV_ID, [NodeSize(name, 1, 2) for name in names])
        await eventually(lambda: set(names) <= set(events.joined), within=60)
        # Settled: every Nanny's start has returned, so work submitted now is placed on nodes
        # that are fully up (the tests count which attempts a killed worker took along).
        await eventually(lambda: set(names) <= set(backend._envs[ENV_ID].nannies), within=60)
        return Cluster(backend, events, names)

    try:
        yield start
    finally:
        for backend in backends:
            await backend.close()


def attempts(tmp_path: Path, commands: list[str], task: str = "Task1") -> list[InstanceSpec]:
    """One unpinned attempt per command, index = position."""
    return [
        InstanceSpec(
            key=key(index, task),
            job_id=JOB_ID,
            task_name=task,
            instance_num=len(commands),
            index=index,
            attempt=1,
            env_id=ENV_ID,
            node_id="",
            command=command,
            env_vars=(("RELEASE", str(tmp_path / "release")),),
            work_dir=str(work_dir(tmp_path, index, task)),
            timeout_seconds=60.0,
        )
        for index, command in enumerate(commands)
    ]


def key(index: int, task: str = "Task1") -> str:
    return f"{JOB_ID}:{task}:{index}:1"


def work_dir(tmp_path: Path, index: int, task: str = "Task1") -> Path:
    return tmp_path / "work" / task / str(index)


WAIT_FOR_RELEASE = 'while [ ! -e "$RELEASE" ]; do sleep 0.02; done'


def test_packs_only_a_deep_backlog_of_unpinned_attempts_that_keep_their_node(
    tmp_path: Path,
) -> None:
    specs = attempts(tmp_path, ["true"] * 100)
    pinned = [dataclasses.replace(spec, node_id="node-pack0001") for spec in specs]
    restarting = [dataclasses.replace(spec, restart_node=True) for spec in specs]

    assert [len(p) for p in packing.plan(specs[:7], workers=2)] == [1] * 7
    assert [len(p) for p in packing.plan(specs[:40], workers=2)] == [5] * 8
    assert [len(p) for p in packing.plan(specs, workers=1)] == [25] * 4
    assert max(len(p) for p in packing.plan(specs * 20, workers=1)) == packing.MAX_PACK
    assert [len(p) for p in packing.plan(pinned, workers=1)] == [1] * 100
    assert [len(p) for p in packing.plan(restarting, workers=1)] == [1] * 100
    # Attempts of the task handed over before and still queued deepen its backlog.
    queued = {(JOB_ID, "Task1"): 216}
    assert [len(p) for p in packing.plan(specs[:40], workers=2, queued=queued)] == [32, 8]
    assert [len(p) for p in packing.plan(specs[:40], workers=2, queued={})] == [5] * 8
    # Packs never mix tasks, and keep the order of each task's attempts.
    mixed = attempts(tmp_path, ["true"] * 16) + attempts(tmp_path, ["true"] * 16, task="Task2")
    plan = packing.plan(mixed, workers=1)
    assert all(len({spec.task_name for spec in pack}) == 1 for pack in plan)
    assert [spec.index for pack in plan for spec in pack] == [*range(16), *range(16)]


async def test_many_packed_attempts_all_succeed_with_their_own_logs(
    start_cluster: StartCluster, tmp_path: Path
) -> None:
    cluster = await start_cluster(2)
    count = 80
    command = "echo out-$BATCH_TASK_INSTANCE_INDEX; echo err-$BATCH_TASK_INSTANCE_INDEX >&2"
    specs = attempts(tmp_path, [f"{command}; echo $PPID > worker.pid"] * count)

    cluster.backend.submit(ENV_ID, specs)
    # Fewer Dask tasks than attempts: they went in packs (a look inside the backend).
    packs = {id(owner) for owner in cluster.backend._envs[ENV_ID].live.values()}
    assert len(packs) == len(packing.plan(specs, workers=2)) < count

    await eventually(lambda: cluster.events.has_ended(*(s.key for s in specs)), within=60)
    events = cluster.events
    assert events.finish_counts() == {spec.key: 1 for spec in specs}
    assert not cluster.backend._envs[ENV_ID].queued  # the backlog count is back to nothing
    for index, spec in enumerate(specs):
        end = events.end_of(spec.key)
        assert end.result is not None
        assert (end.result.exit_code, end.result.reason, end.error) == (0, "", "")
        assert end.result.started_at is not None  # tiny: its end alone tells of its start
        assert end.result.node_id in cluster.nodes
        assert end.result.stdout_tail == f"out-{index}\n".encode()
        assert end.result.stderr_tail == f"err-{index}\n".encode()
        assert (Path(spec.work_dir) / "stdout.log").read_text() == f"out-{index}\n"
        if spec.key in events.running:  # it ran long enough to be announced
            assert events.log.index(("running", spec.key)) < events.log.index(("end", spec.key))
    # One watchdog per worker process, however many attempts it ran.
    workers = {read_pid(Path(spec.work_dir) / "worker.pid") for spec in specs}
    assert len(workers) <= len(cluster.nodes)  # no worker process beyond the env's nodes
    for worker in workers:
        assert worker is not None
        assert len(_watchdogs_of(worker)) == 1


async def test_a_killed_attempt_waiting_in_a_pack_never_starts(
    start_cluster: StartCluster, tmp_path: Path
) -> None:
    cluster = await start_cluster(1)
    # One node: packs of 4 - [0..3] runs first and waits at 0; [4..7], [8..11], [12..15] queue.
    specs = attempts(tmp_path, [WAIT_FOR_RELEASE] + ["touch ran"] * 15)
    assert [len(p) for p in packing.plan(specs, workers=1)] == [4, 4, 4, 4]
    backend, events = cluster.backend, cluster.events
    backend.submit(ENV_ID, specs)
    await eventually(lambda: key(0) in events.running)

    # 2 waits in the running pack, 9 in a pack not started yet, 12..15 are a whole such pack.
    for index in (2, 9, 12, 13, 14, 15):
        await backend.kill(ENV_ID, key(index), "TERMINATED_BY_USER")
    killed = [key(i) for i in (2, 9, 12, 13, 14, 15)]
    assert events.has_ended(*killed)  # reported by the kill itself, while 0 still runs
    (tmp_path / "release").touch()

    await eventually(lambda: events.has_ended(*(s.key for s in specs)))
    await backend.kill(ENV_ID, key(2), "TERMINATED_BY_USER")  # reported already: nothing more
    assert events.finish_counts() == {spec.key: 1 for spec in specs}
    for index, spec in enumerate(specs):
        end = events.end_of(spec.key)
        if spec.key in killed:
            assert (end.result, end.error) == (None, "TERMINATED_BY_USER")
            assert spec.key not in events.running
            assert not work_dir(tmp_path, index).exists()
        else:
            assert end.result is not None
            assert (end.result.reason, end.error) == ("", "")


async def test_an_attempt_killed_before_any_node_is_up_never_starts(
    start_cluster: StartCluster, tmp_path: Path
) -> None:
    # No worker hears of the kill; the pack learns it from the scheduler when it starts.
    cluster = await start_cluster(0)
    specs = attempts(tmp_path, ["touch ran"] * 8)
    assert [len(p) for p in packing.plan(specs, workers=1)] == [2, 2, 2, 2]
    backend, events = cluster.backend, cluster.events
    backend.submit(ENV_ID, specs)
    await backend.kill(ENV_ID, key(1), "TERMINATED_BY_USER")
    await backend.kill(ENV_ID, key(4), "NODE_DELETED")

    await backend.add_nodes(ENV_ID, [NodeSize("node-pack0001", 1, 2)])

    await eventually(lambda: events.has_ended(*(s.key for s in specs)), within=60)
    assert events.finish_counts() == {spec.key: 1 for spec in specs}
    assert (events.end_of(key(1)).result, events.end_of(key(1)).error) == (
        None,
        "TERMINATED_BY_USER",
    )
    assert (events.end_of(key(4)).result, events.end_of(key(4)).error) == (None, "NODE_DELETED")
    assert not work_dir(tmp_path, 1).exists()
    assert not work_dir(tmp_path, 4).exists()
    assert all((work_dir(tmp_path, i) / "ran").exists() for i in (0, 2, 3, 5, 6, 7))


async def test_a_killed_running_attempt_stops_alone(
    start_cluster: StartCluster, tmp_path: Path
) -> None:
    cluster = await start_cluster(1)
    # Packs of 3: 1 runs in the first pack, between 0 and 2.
    commands = ["true", "echo $$ > pgid; sleep 1000 & sleep 1000"] + ["touch ran"] * 10
    specs = attempts(tmp_path, commands)
    assert len(packing.plan(specs, workers=1)[0]) == 3
    backend, events = cluster.backend, cluster.events
    backend.submit(ENV_ID, specs)
    pgid_file = work_dir(tmp_path, 1) / "pgid"
    await eventually(lambda: key(1) in events.running and read_pid(pgid_file) is not None)
    # The end of 0 did not wait behind 1: it came with the announcement of 1.
    assert events.has_ended(key(0))

    killed_at = time.monotonic()
    await backend.kill(ENV_ID, key(1), "TERMINATED_BY_USER")
    await eventually(lambda: events.has_ended(key(1)), within=5)

    assert time.monotonic() - killed_at < 2.0 + 0.5
    end = events.end_of(key(1))
    assert end.result is not None
    assert (end.result.exit_code, end.result.reason) == (None, "TERMINATED_BY_USER")
    assert end.result.started_at is not None
    pgid = read_pid(pgid_file)
    assert pgid is not None
    assert live_group_members(pgid) == []
    await eventually(lambda: events.has_ended(*(s.key for s in specs)))
    assert events.finish_counts() == {spec.key: 1 for spec in specs}
    for spec in specs[:1] + specs[2:]:
        result = events.end_of(spec.key).result
        assert result is not None
        assert result.reason == ""


async def test_a_timed_out_attempt_ends_alone(start_cluster: StartCluster, tmp_path: Path) -> None:
    cluster = await start_cluster(1)
    specs = attempts(tmp_path, ["true", "sleep 1000"] + ["touch ran"] * 10)
    # Its timeout counts from its own launch, not from the start of its pack.
    specs[1] = dataclasses.replace(specs[1], timeout_seconds=0.5)
    assert len(packing.plan(specs, workers=1)[0]) == 3
    cluster.backend.submit(ENV_ID, specs)

    await eventually(lambda: cluster.events.has_ended(*(s.key for s in specs)))

    events = cluster.events
    assert events.finish_counts() == {spec.key: 1 for spec in specs}
    timed_out = events.end_of(key(1)).result
    assert timed_out is not None
    assert (timed_out.exit_code, timed_out.reason) == (None, "TIMEOUT")
    assert timed_out.started_at is not None
    assert timed_out.ended_at - timed_out.started_at < 0.5 + 2.0
    for spec in [specs[0], *specs[2:]]:
        result = events.end_of(spec.key).result
        assert result is not None
        assert result.reason == ""


async def test_a_worker_killed_mid_pack_fails_its_unreported_attempts_once(
    start_cluster: StartCluster, tmp_path: Path
) -> None:
    cluster = await start_cluster(1)
    # Packs of 5: 0 ends, 1 is running (with a child in the background) when the worker dies.
    holder = "sleep 1000 & echo $! > bg; echo $PPID > worker.pid; echo $$ > pid; wait"
    specs = attempts(tmp_path, ["true", holder] + ["touch ran"] * 18)
    assert len(packing.plan(specs, workers=1)[0]) == 5
    backend, events = cluster.backend, cluster.events
    backend.submit(ENV_ID, specs)
    files = work_dir(tmp_path, 1)
    # Once 1 is announced, the end of 0 has been sent (with that announcement).
    await eventually(lambda: read_pid(files / "pid") is not None, within=30)
    await eventually(lambda: key(1) in events.running)
    command_pids = [read_pid(files / "pid"), read_pid(files / "bg")]
    worker_pid = read_pid(files / "worker.pid")
    assert worker_pid is not None
    assert all(pid is not None and is_alive(pid) for pid in command_pids)

    os.kill(worker_pid, signal.SIGKILL)

    await eventually(lambda: events.has_ended(*(s.key for s in specs)), within=30)
    # No orphan: the watchdog ended the running command's whole group.
    await eventually(lambda: not any(pid is not None and is_alive(pid) for pid in command_pids), 3)
    first = events.end_of(key(0)).result
    assert first is not None
    assert first.reason == ""
    for spec in specs[1:]:
        end = events.end_of(spec.key)
        assert end.result is None
        assert "KilledWorker" in end.error
    assert not any((work_dir(tmp_path, i) / "ran").exists() for i in range(2, 20))
    # Nothing more arrives later: the node comes back and runs new work, and still each
    # attempt of the lost packs was reported exactly once.
    await eventually(lambda: events.joined.count(cluster.nodes[0]) == 2, within=60)
    (late,) = attempts(tmp_path, ["true"], task="Task2")
    backend.submit(ENV_ID, [late])
    await eventually(lambda: events.has_ended(late.key))
    assert events.finish_counts() == {spec.key: 1 for spec in [*specs, late]}


def _watchdogs_of(pid: int) -> list[int]:
    """The watchdog processes started by process `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat[stat.rfind(")") + 2 :].split()[1])
        if parent == pid and b"watchdog.py" in cmdline:
            found.append(int(entry.name))
    return found


async def test_a_node_has_its_watchdog_before_its_first_attempt(
    start_cluster: StartCluster,
) -> None:
    cluster = await start_cluster(1)
    client = cluster.backend._envs[ENV_ID].client

    pids = await client.run(lambda: guard.shared().pid())

    (pid,) = pids.values()
    assert pid is not None
    assert is_alive(pid)
