"""Restarts and lost workers: kill -9 of batchd mid-job, and of a Dask worker mid-task."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.batch.conftest import BatchApi, command_task, shared_file
from tests.support import ServerProcess, pids_of, unique_sleep, wait_until


@pytest.fixture
def process(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path / "data", database_url).serving() as server:
        yield server


def _api(process: ServerProcess) -> BatchApi:
    return BatchApi(process.running())


# Unique to this test process: other tests, running at the same time, sleep too.
LONG_SLEEP = unique_sleep()


def test_a_job_survives_kill_9_of_batchd(process: ServerProcess, shared_dir: Path) -> None:
    batch = _api(process)
    env_id = batch.env(nodes=1)
    marker = shared_file(shared_dir, "attempts")
    # The first attempt waits to be killed with the server; the retry finds the marker and ends.
    command = f"echo run >> {marker}; test $(wc -l < {marker}) -ge 2 || {LONG_SLEEP}"
    job_id = batch.submit([command_task("once", env_id, command, MaxRetryCount=2)])
    batch.until("DescribeJob", {"JobId": job_id}, lambda d: d["JobState"] == "RUNNING")

    process.kill()
    process.start()
    batch = _api(process)

    job = batch.finished(job_id, timeout=90)
    assert job["JobState"] == "SUCCEED"
    assert marker.read_text().count("run") == 2
    env = batch("DescribeComputeEnv", {"EnvId": env_id})
    assert [n["ComputeNodeState"] for n in env["ComputeNodeSet"]] == ["RUNNING"]
    # No command of the first attempt outlived the server that started it.
    assert not pids_of(LONG_SLEEP)


def test_a_running_attempt_lost_with_batchd_fails_as_compute_node_lost(
    process: ServerProcess,
) -> None:
    batch = _api(process)
    env_id = batch.env(nodes=1)
    job_id = batch.submit([command_task("lost", env_id, LONG_SLEEP)])  # no retry
    batch.until("DescribeJob", {"JobId": job_id}, lambda d: d["JobState"] == "RUNNING")

    process.kill()
    process.start()
    batch = _api(process)

    assert batch.finished(job_id, timeout=90)["JobState"] == "FAILED"
    (lost,) = batch("DescribeTask", {"JobId": job_id, "TaskName": "lost"})["TaskInstanceSet"]
    assert (lost["TaskInstanceState"], lost["StateReason"]) == ("FAILED", "COMPUTE_NODE_LOST")
    assert not pids_of(LONG_SLEEP)


def test_attempts_that_never_launched_cost_no_retry_after_kill_9(process: ServerProcess) -> None:
    """One node, three instances: one runs, two wait in STARTING when batchd dies. After the
    restart the running one is retried; the waiting ones start over with their first attempt,
    so a job with one retry still succeeds."""
    batch = _api(process)
    env_id = batch.env(nodes=1)
    job_id = batch.submit(
        [command_task("queued", env_id, "sleep 2", TaskInstanceNum=3, MaxRetryCount=1)]
    )
    batch.until(
        "DescribeTask",
        {"JobId": job_id, "TaskName": "queued"},
        lambda d: [i["TaskInstanceState"] for i in d["TaskInstanceSet"]].count("RUNNING") == 1,
    )

    process.kill()
    process.start()
    batch = _api(process)

    assert batch.finished(job_id, timeout=90)["JobState"] == "SUCCEED"
    answer = batch.client.call_json("DescribeEvents", {"OwnerId": job_id, "Limit": 100})
    history = answer["Response"]["EventSet"]
    attempts: dict[int, list[int]] = {}
    for item in history:
        if item["EventName"] == "TASK_INSTANCE_RUNNING":
            body = item["Event"]["Batch"]
            attempts.setdefault(body["TaskInstanceIndex"], []).append(body["Attempt"])
    assert sorted(attempts.values()) == [[1], [1], [1, 2]]


def test_a_killed_worker_fails_its_attempt_and_the_retry_succeeds(
    process: ServerProcess, shared_dir: Path
) -> None:
    batch = _api(process)
    env_id = batch.env(nodes=1)
    marker = shared_file(shared_dir, "attempts")
    pid_file = shared_file(shared_dir, "worker.pid")
    # The first attempt records its worker's pid (the shell's parent) and waits.
    command = (
        f"echo run >> {marker}; if [ $(wc -l < {marker}) -ge 2 ]; then exit 0; fi; "
        f"echo $PPID > {pid_file}; {LONG_SLEEP}"
    )
    job_id = batch.submit([command_task("once", env_id, command, MaxRetryCount=1)])
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() != "", timeout=60)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)

    job = batch.finished(job_id, timeout=90)
    assert job["JobState"] == "SUCCEED"
    assert marker.read_text().count("run") == 2
    wait_until(lambda: not pids_of(LONG_SLEEP), timeout=10)
    activities = batch("DescribeComputeEnvActivities", {"EnvId": env_id})
    assert activities["TotalCount"] >= 1


def test_a_node_being_deleted_when_batchd_dies_is_gone_after_the_restart(
    process: ServerProcess,
) -> None:
    from sqlalchemy import create_engine, text

    batch = _api(process)
    env_id = batch.env(nodes=1)
    process.kill()
    # The store as batchd leaves it when it dies after a node became DELETING and before its
    # worker ended: nobody will report that worker's end any more.
    engine = create_engine(process.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE nodes SET state = 'DELETING'"))
    finally:
        engine.dispose()
    process.start()

    batch.until("DescribeComputeEnv", {"EnvId": env_id}, lambda d: d["ComputeNodeSet"] == [])
    batch("DeleteComputeEnv", {"EnvId": env_id})
    batch.until("DescribeComputeEnvs", {}, lambda d: d["TotalCount"] == 0)
