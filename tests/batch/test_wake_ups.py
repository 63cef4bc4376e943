"""The controller steps only the jobs that something happened to, and forgets none of them."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from batchd.control.step_context import RUNNABLE_PER_TICK
from tests.batch.conftest import BatchApi, command_task, shared_file

CONTROLLER = "batchd.control.controller"


def _stepped(caplog: pytest.LogCaptureFixture) -> list[list[str]]:
    """The job ids each tick stepped, from the controller's debug lines."""
    return [
        list(record.__dict__["job_ids"])
        for record in caplog.records
        if record.name == CONTROLLER and record.__dict__.get("event") == "tick"
    ]


def test_a_tick_steps_only_the_jobs_something_happened_to(
    batch: BatchApi, caplog: pytest.LogCaptureFixture
) -> None:
    busy_env, free_env = batch.env(nodes=1, name="busy"), batch.env(nodes=1, name="free")
    # Unfinished jobs about which nothing happens: one runs a long command, the others wait
    # for the busy environment's only node, and each has a task waiting for that one.
    idle = [
        batch.submit(
            [
                command_task("hold", busy_env, "sleep 60"),
                command_task("after", busy_env, "true"),
            ],
            Dependences=[{"StartTask": "hold", "EndTask": "after"}],
        )
        for _ in range(3)
    ]
    batch.until(
        "DescribeJobs",
        {"JobIds": idle},
        lambda d: sorted(j["JobState"] for j in d["JobSet"]) == ["RUNNING", "STARTING", "STARTING"],
    )
    time.sleep(0.5)  # let the ticks of their last reports pass
    caplog.set_level(logging.DEBUG, logger=CONTROLLER)
    caplog.clear()

    probe = batch.submit([command_task("probe", free_env, "true")])
    assert batch.finished(probe)["JobState"] == "SUCCEED"

    ticks = _stepped(caplog)
    assert ticks, "no tick was logged"
    assert {job_id for stepped in ticks for job_id in stepped} == {probe}
    # Submitted, handed over, running, done: a few ticks, each stepping the probe only.
    assert all(stepped == [probe] for stepped in ticks if stepped)
    for job_id in idle:
        batch("TerminateJob", {"JobId": job_id})


def test_a_task_listed_before_its_upstream_starts_when_the_upstream_ends(
    batch: BatchApi,
) -> None:
    env_id = batch.env(nodes=1)
    job_id = batch.submit(
        [
            command_task("second", env_id, "echo second"),
            command_task("first", env_id, "sleep 0.5"),
        ],
        Dependences=[{"StartTask": "first", "EndTask": "second"}],
    )
    job = batch.finished(job_id, timeout=30)
    assert job["JobState"] == "SUCCEED"
    second, first = job["TaskSet"]
    assert (second["TaskName"], first["TaskName"]) == ("second", "first")
    assert first["EndTime"] <= second["EndTime"]


def test_max_concurrent_room_freed_by_an_end_starts_the_next_instance(
    batch: BatchApi, shared_dir: Path
) -> None:
    env_id = batch.env(nodes=2)
    # Two instances at once on the two nodes would find the other's lock directory.
    lock, overlaps = shared_dir / "lock", shared_file(shared_dir, "overlaps")
    command = f"mkdir {lock} || echo $BATCH_TASK_INSTANCE_INDEX >> {overlaps}; sleep 0.2; "
    command += f"rmdir {lock}; true"
    job_id = batch.submit(
        [command_task("one-at-a-time", env_id, command, TaskInstanceNum=4, MaxConcurrentNum=1)]
    )
    job = batch.finished(job_id, timeout=40)
    assert job["JobState"] == "SUCCEED"
    assert job["TaskInstanceMetrics"]["SucceedCount"] == 4
    assert overlaps.read_text() == ""  # never two at a time


def _env_held_by_a_long_job(batch: BatchApi) -> tuple[str, str]:
    """An environment of one node and the job that keeps it busy (`sleep 60`, RUNNING)."""
    env_id = batch.env(nodes=1)
    job_id = batch.submit([command_task("hold", env_id, "sleep 60")])
    batch.until("DescribeJob", {"JobId": job_id}, lambda d: d["JobState"] == "RUNNING")
    return env_id, job_id


def test_a_job_is_stepped_when_its_environment_loses_its_nodes(
    batch: BatchApi, caplog: pytest.LogCaptureFixture
) -> None:
    env_id, running = _env_held_by_a_long_job(batch)
    waiting = batch.submit([command_task("waiting", env_id, "true")])
    params = {"JobId": waiting, "TaskName": "waiting"}
    batch.until("DescribeTask", params, lambda d: d["TaskState"] == "STARTING")
    caplog.set_level(logging.DEBUG, logger=CONTROLLER)
    caplog.clear()

    node = batch("DescribeComputeEnv", {"EnvId": env_id})["ComputeNodeSet"][0]
    batch("TerminateComputeNodes", {"EnvId": env_id, "ComputeNodeIds": [node["ComputeNodeId"]]})
    batch.finished(waiting)  # its attempt is lost with the node

    # The ticks that saw the environment without a running node stepped both of its jobs,
    # whether or not anything was reported about them yet (an attempt waiting for a node
    # says so then, see WAITING_FOR_COMPUTE_NODE).
    ticks = [
        record
        for record in caplog.records
        if record.name == CONTROLLER and record.__dict__.get("event") == "tick"
    ]
    # The change may be seen over more than one tick (node DELETING, then gone) and reports may
    # interleave, so look at every tick that saw the environment change; and, when such a tick
    # ran out of time (a loaded machine), at the ticks that stepped the jobs it left over.
    stepped: set[str] = set()
    carried = False
    for tick in ticks:
        saw = env_id in tick.__dict__["env_ids"] or carried
        if saw:
            stepped.update(tick.__dict__["job_ids"])
        left = tick.args[1] if isinstance(tick.args, tuple) else 0  # jobs left over
        carried = saw and int(str(left)) > 0
    assert {running, waiting} <= stepped
    batch("TerminateJob", {"JobId": running})


def test_a_job_larger_than_a_tick_moves_on_with_no_other_wake_up(
    batch: BatchApi, caplog: pytest.LogCaptureFixture
) -> None:
    env_id, hold = _env_held_by_a_long_job(batch)
    caplog.set_level(logging.DEBUG, logger=CONTROLLER)
    caplog.clear()

    # Its instances wait behind the held node: no report comes to wake the controller, and
    # each tick moves only RUNNABLE_PER_TICK of them on; the rest must follow by themselves.
    count = 2 * RUNNABLE_PER_TICK + 10
    big = batch.submit([command_task("many", env_id, "true", TaskInstanceNum=count)])

    batch.until(
        "DescribeJob",
        {"JobId": big},
        lambda d: d["TaskInstanceMetrics"]["StartingCount"] == count,
        timeout=30,
    )
    assert sum(big in stepped for stepped in _stepped(caplog)) >= 3
    batch("TerminateJob", {"JobId": hold})
    assert batch.finished(big, timeout=60)["JobState"] == "SUCCEED"
