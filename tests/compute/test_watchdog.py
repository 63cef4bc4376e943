"""The watchdog: one per worker process, it kills every command group it knows when that process
dies, and is replaced (knowing the groups still running) if it died itself."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchd.compute import guard, watchdog
from batchd.compute.instance import InstanceSpec
from batchd.compute.runner import run_instance
from tests.compute.procfs import is_alive, live_group_members
from tests.support import wait_until

# A stand-in for a worker process: launches groups, tells the guard, then waits to be killed.
WORKER = """
import os, signal, subprocess, sys, time
from batchd.compute import guard

shared = guard.shared()

def launch():
    proc = subprocess.Popen(["/bin/sh", "-c", "sleep 1000 & sleep 1000"], start_new_session=True)
    shared.add(proc.pid)
    return proc.pid

groups = [launch(), launch()]
finished = launch()
shared.remove(finished)  # over, as far as the guard knows: not the watchdog's to kill
first = shared.pid()
if "--kill-watchdog" in sys.argv:
    os.kill(first, signal.SIGKILL)
    while shared.pid() == first:  # noticed (and reaped) once it is dead
        time.sleep(0.01)
    groups.append(launch())  # starts a new watchdog, which must learn the older groups too
print(first, shared.pid(), finished, *groups, flush=True)
sys.stdin.read()
"""


@pytest.fixture
def leftovers() -> Iterator[list[int]]:
    """Process groups a test may leave behind; killed afterwards."""
    groups: list[int] = []
    yield groups
    for pgid in groups:
        watchdog.signal_group(pgid, signal.SIGKILL)


@contextlib.contextmanager
def stand_in_worker(*args: str) -> Iterator[tuple[subprocess.Popen[str], list[int]]]:
    """The WORKER script running, and the pids it printed; killed at the end."""
    with subprocess.Popen(
        [sys.executable, "-c", WORKER, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as worker:
        try:
            assert worker.stdout is not None
            yield worker, [int(word) for word in worker.stdout.readline().split()]
        finally:
            worker.kill()


@pytest.mark.parametrize("args", [(), ("--kill-watchdog",)], ids=["first", "replacement"])
def test_every_known_group_dies_with_the_worker_process(
    args: tuple[str, ...], leftovers: list[int]
) -> None:
    with stand_in_worker(*args) as (worker, (first, current, finished, *groups)):
        leftovers.extend([finished, *groups])
        assert all(live_group_members(pgid) for pgid in [finished, *groups])
        assert (first != current) == bool(args)

        worker.kill()
        killed_at = time.monotonic()

        wait_until(lambda: not any(live_group_members(pgid) for pgid in groups), timeout=3)
        assert time.monotonic() - killed_at < 2.0
        wait_until(lambda: not is_alive(current), timeout=3)  # and the watchdog is gone too
        assert live_group_members(finished)  # not a group the watchdog still knew


def test_a_clean_exit_also_ends_the_watchdog(leftovers: list[int]) -> None:
    with stand_in_worker() as (worker, (_, current, finished, *groups)):
        leftovers.extend([finished, *groups])
        assert worker.stdin is not None

        worker.stdin.close()  # the script returns: the interpreter exits normally

        assert worker.wait(timeout=10) == 0
        assert not is_alive(current)
        assert not any(live_group_members(pgid) for pgid in groups)


def test_one_watchdog_serves_every_attempt_of_a_process(tmp_path: Path) -> None:
    seen = set()
    for index in range(5):
        spec = InstanceSpec(
            key=f"job-watch001:Task1:{index}:1",
            job_id="job-watch001",
            task_name="Task1",
            instance_num=5,
            index=index,
            attempt=1,
            env_id="env-watch001",
            node_id="node-watch001",
            command="true",
            work_dir=str(tmp_path / str(index)),
        )
        assert run_instance(spec).reason == ""
        seen.add(guard.shared().pid())
    assert len(seen) == 1
    (pid,) = seen
    assert pid is not None
    assert is_alive(pid)
    assert pid != os.getpid()


def test_group_members_found_near_the_leader_match_a_full_scan() -> None:
    since = watchdog.fork_count()
    assert since is not None
    proc = subprocess.Popen(
        ["/bin/sh", "-c", "sleep 1000 & sleep 1000 & wait"], start_new_session=True
    )
    try:
        wait_until(lambda: len(watchdog.live_members(proc.pid)) == 3)

        assert sorted(watchdog.live_members(proc.pid, since)) == sorted(
            watchdog.live_members(proc.pid)
        )
    finally:
        watchdog.terminate_group(proc.pid, since=since)
        proc.wait(timeout=5)
    assert watchdog.live_members(proc.pid) == []


# A stand-in worker killed right after launching a command, before the watchdog hears of it.
KILLED_AT_LAUNCH = """
import os, signal, sys
from batchd.compute import guard
from batchd.compute.instance import InstanceSpec
from batchd.compute.runner import run_instance

def die(self, pgid):
    print(pgid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

guard.Guard.add = die
run_instance(InstanceSpec(key="job-watch001:Task1:0:1", job_id="job-watch001",
    task_name="Task1", instance_num=1, index=0, attempt=1, env_id="env-watch001",
    node_id="node-watch001", command="touch ran; sleep 1000", work_dir=sys.argv[1]))
"""


def test_a_worker_killed_at_launch_leaves_nothing_running(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_AT_LAUNCH, str(tmp_path)], stdout=subprocess.PIPE, text=True
    ) as worker:
        assert worker.stdout is not None
        pgid = int(worker.stdout.readline())
        assert worker.wait(timeout=10) == -signal.SIGKILL

    # The command was held at its gate, which then read end-of-file and gave up.
    wait_until(lambda: not live_group_members(pgid), timeout=3)
    assert not (tmp_path / "ran").exists()
