"""A zone whose nodes come from an existing Dask scheduler (the zones setting): a real `dask
scheduler` process that batchd does not run, real `dask worker` processes the test starts against
it, attached to environments that share it, driven through the official Batch SDK."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchd.domain import zones
from tests.batch.conftest import BatchApi, ExternalWorker, command_task, shared_file
from tests.batch.test_attach import attached_node, call, refused, running_on, stdout_of
from tests.support import (
    ServerProcess,
    free_port,
    pids_of,
    server_in_thread,
    unique_sleep,
    wait_until,
)

ZONE = "ap-guangzhou-2"  # the zone BatchApi creates environments in


class DaskScheduler:
    """`dask scheduler` on a loopback port, with Dask's default `allowed-failures` (3): it
    re-runs the tasks of a lost worker, as an operator's scheduler would. Killed and started
    again, it comes back on the same address."""

    def __init__(self, tmp_path: Path) -> None:
        self._dask = str(Path(sys.executable).parent / "dask")
        self._file = tmp_path / "scheduler.json"
        self._log = tmp_path / "scheduler.log"
        self._env = {k: v for k, v in os.environ.items() if not k.startswith(("BATCHD_", "DASK_"))}
        self._process: subprocess.Popen[bytes] | None = None
        self.address = ""

    def start(self) -> str:
        """Start it (on the address of its last life, if it had one); its address."""
        port = self.address.rsplit(":", 1)[-1] if self.address else "0"
        self._file.unlink(missing_ok=True)
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    *(self._dask, "scheduler", "--host", "127.0.0.1", "--port", port),
                    *("--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(self._file)),
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=self._env,
            )
        wait_until(self._file.exists, timeout=30, interval=0.1)
        wait_until(lambda: b"address" in self._file.read_bytes(), timeout=10, interval=0.1)
        self.address = str(json.loads(self._file.read_text())["address"])
        return self.address

    def kill(self) -> None:
        """kill -9."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


@pytest.fixture
def dask_scheduler(tmp_path: Path) -> Iterator[DaskScheduler]:
    scheduler = DaskScheduler(tmp_path)
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.stop()


@pytest.fixture
def scheduler_address(dask_scheduler: DaskScheduler) -> str:
    return dask_scheduler.address


@pytest.fixture
def batch(scheduler_address: str, tmp_path: Path) -> Iterator[BatchApi]:
    """batchd on SQLite, its zone taking nodes from the scheduler above."""
    sources = zones.parse({ZONE: scheduler_address})
    database_url = f"sqlite:///{tmp_path / 'batchd.db'}"
    with server_in_thread(tmp_path / "data", database_url, zones=sources) as running:
        yield BatchApi(running)


def test_environments_share_an_existing_scheduler(
    batch: BatchApi, scheduler_address: str, external_worker: ExternalWorker
) -> None:
    # batchd starts no nodes in this zone: asked to, it says what to do instead.
    refusal = refused(
        batch,
        "CreateComputeEnv",
        {
            "ComputeEnv": {"EnvName": "x", "DesiredComputeNodeCount": 1, "EnvData": {}},
            "Placement": {"Zone": ZONE},
        },
    )
    assert refusal == "UnsupportedOperation"
    assert batch("DescribeComputeEnvs", {})["TotalCount"] == 0

    first, second = batch.env(nodes=0, name="first"), batch.env(nodes=0, name="second")
    for env_id in (first, second):
        described = call(batch, "DescribeComputeEnv", {"EnvId": env_id})
        assert described["SchedulerAddress"] == scheduler_address
    external_worker(scheduler_address, "box-1")
    external_worker(scheduler_address, "box-2")
    batch("AttachInstances", {"EnvId": first, "Instances": [{"InstanceId": "box-1"}]})
    one = attached_node(batch, first, "box-1")
    # A node of one environment is not free for another.
    taken = {"EnvId": second, "Instances": [{"InstanceId": "box-1"}]}
    assert (
        refused(batch, "AttachInstances", taken) == "UnsupportedOperation.InstancesNotAllowToAttach"
    )
    batch("AttachInstances", {"EnvId": second, "Instances": [{"InstanceId": "box-2"}]})
    two = attached_node(batch, second, "box-2")

    # Each environment's work runs on its own nodes only.
    where = "echo $BATCH_COMPUTE_NODE_ID"
    jobs = {
        env_id: batch.submit([command_task("where", env_id, where, TaskInstanceNum=4)])
        for env_id in (first, second)
    }
    for env_id, node in ((first, one), (second, two)):
        assert batch.finished(jobs[env_id])["JobState"] == "SUCCEED"
        assert stdout_of(batch, jobs[env_id], "where") == [node["ComputeNodeId"]] * 4

    # A running attempt's live log is read from its worker; terminating it stops it.
    job_id = batch.submit([command_task("live", first, "echo started; sleep 60")])
    running_on(batch, job_id, "live", "box-1")

    def live_stdout() -> str:
        logs = batch("DescribeTaskLogs", {"JobId": job_id, "TaskName": "live"})
        log = logs["TaskInstanceLogSet"][0]["StdoutLog"] or ""
        return base64.b64decode(log.split("base64,", 1)[-1]).decode() if log else ""

    wait_until(lambda: live_stdout().strip() == "started", timeout=30, interval=0.2)
    started = time.monotonic()
    batch("TerminateJob", {"JobId": job_id})
    assert batch.finished(job_id)["JobState"] == "FAILED"
    assert time.monotonic() - started < 10

    # Nor does it grow nodes, by scaling or for an anonymous environment.
    grow = {"EnvId": first, "DesiredComputeNodeCount": 1}
    assert refused(batch, "ModifyComputeEnv", grow) == "UnsupportedOperation"
    anonymous = {
        "TaskName": "anon",
        "Application": {"DeliveryForm": "LOCAL", "Command": "true"},
        "ComputeEnv": {"EnvType": "MANAGED", "EnvData": {"InstanceType": "S5.SMALL1"}},
    }
    jobs_before = batch("DescribeJobs", {})["TotalCount"]
    submit = {"Placement": {"Zone": ZONE}, "Job": {"Tasks": [anonymous]}}
    assert refused(batch, "SubmitJob", submit) == "UnsupportedOperation"
    assert batch("DescribeJobs", {})["TotalCount"] == jobs_before


def test_a_lost_worker_attempt_is_retried_by_batchd_not_rerun_by_dask(
    batch: BatchApi,
    scheduler_address: str,
    external_worker: ExternalWorker,
    tmp_path: Path,
    shared_dir: Path,
) -> None:
    env_id = batch.env(nodes=0, name="lossy")
    workers = {name: external_worker(scheduler_address, name) for name in ("box-1", "box-2")}
    node_ids = {}
    for name in workers:
        batch("AttachInstances", {"EnvId": env_id, "Instances": [{"InstanceId": name}]})
        node_ids[name] = attached_node(batch, env_id, name)["ComputeNodeId"]

    # Every start of the command leaves a line; the first attempt then waits to be lost.
    runs = shared_file(shared_dir, "runs")
    command = (
        f"echo $BATCH_TASK_INSTANCE_ATTEMPT $BATCH_COMPUTE_NODE_ID >> {runs}; "
        'if [ "$BATCH_TASK_INSTANCE_ATTEMPT" = 1 ]; then sleep 60; fi'
    )
    job_id = batch.submit([command_task("lost", env_id, command, MaxRetryCount=1)])
    running = batch.until(
        "DescribeTask",
        {"JobId": job_id, "TaskName": "lost"},
        lambda d: d["TaskInstanceSet"][0]["TaskInstanceState"] == "RUNNING",
    )
    doomed = running["TaskInstanceSet"][0]["ComputeNodeInstanceId"]
    (spare,) = set(workers) - {doomed}
    os.kill(workers[doomed].pid, signal.SIGKILL)

    assert batch.finished(job_id)["JobState"] == "SUCCEED"
    attempts = call(batch, "DescribeTaskInstanceAttempts", {"JobId": job_id, "TaskName": "lost"})
    assert attempts["TaskInstanceAttemptSet"][0]["Attempt"] == 2
    # Dask ran the lost worker's task again on the spare worker, which recognised it and ran
    # nothing: the command started once per attempt of batchd's, not a third time.
    spare_log = tmp_path / f"worker-{spare}.log"
    wait_until(lambda: b"re-run by Dask" in spare_log.read_bytes(), timeout=10, interval=0.1)
    assert runs.read_text().splitlines() == [f"1 {node_ids[doomed]}", f"2 {node_ids[spare]}"]
    # The lost worker's node is ABNORMAL, as the cloud shows a node it lost contact with.
    batch.until(
        "DescribeComputeEnv",
        {"EnvId": env_id},
        lambda d: (
            {n["ComputeNodeId"]: n["ComputeNodeState"] for n in d["ComputeNodeSet"]}
            == {node_ids[doomed]: "ABNORMAL", node_ids[spare]: "RUNNING"}
        ),
        timeout=15,
    )


def test_an_unreachable_scheduler_fails_attempts_with_a_reason(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    database_url = f"sqlite:///{tmp_path / 'batchd.db'}"
    sources = zones.parse({ZONE: address})
    with server_in_thread(tmp_path / "data", database_url, zones=sources) as running:
        batch = BatchApi(running)
        env_id = batch.env(nodes=0, name="nowhere")
        job_id = batch.submit([command_task("stranded", env_id, "true")])
        assert batch.finished(job_id)["JobState"] == "FAILED"
        task = batch("DescribeTask", {"JobId": job_id, "TaskName": "stranded"})
        (instance,) = task["TaskInstanceSet"]
        assert instance["StateReason"] == "COMPUTE_NODE_LOST"
        assert f"cannot reach the Dask scheduler at {address}" in instance["StateDetailedReason"]


@pytest.fixture
def process(scheduler_address: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """`batchd serve` as a process, its zone in batchd.toml taking nodes from the scheduler."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    (data_dir / "batchd.toml").write_text(f'[zones]\n"{ZONE}" = "{scheduler_address}"\n')
    with ServerProcess(data_dir, f"sqlite:///{tmp_path / 'batchd.db'}").serving() as server:
        yield server


def _box_node(
    batch: BatchApi, scheduler_address: str, external_worker: ExternalWorker
) -> tuple[str, subprocess.Popen[bytes]]:
    """An environment whose one node is the worker `box`: its id, and the worker's process."""
    env_id = batch.env(nodes=0, name="boxed")
    worker = external_worker(scheduler_address, "box")
    batch("AttachInstances", {"EnvId": env_id, "Instances": [{"InstanceId": "box"}]})
    attached_node(batch, env_id, "box")
    return env_id, worker


def _held_on_box(batch: BatchApi, env_id: str, runs: Path) -> tuple[str, str]:
    """A job whose first attempt runs on `box` until stopped, and whose retry ends at once; each
    start leaves its attempt number in `runs`. Its id, and the command line of its sleep."""
    sleep = unique_sleep()
    command = (
        f"echo $BATCH_TASK_INSTANCE_ATTEMPT >> {runs}; "
        f'if [ "$BATCH_TASK_INSTANCE_ATTEMPT" = 1 ]; then {sleep}; fi'
    )
    job_id = batch.submit([command_task("held", env_id, command, MaxRetryCount=1)])
    running_on(batch, job_id, "held", "box")
    return job_id, sleep


def _attach_box_again(batch: BatchApi, env_id: str) -> None:
    """What the operator does for an ABNORMAL node whose worker is connected again."""
    batch("DetachInstances", {"EnvId": env_id, "InstanceIds": ["box"]})
    batch.until("DescribeComputeEnv", {"EnvId": env_id}, lambda d: not d["ComputeNodeSet"])
    batch("AttachInstances", {"EnvId": env_id, "Instances": [{"InstanceId": "box"}]})


def test_after_kill_9_of_batchd_its_nodes_stop_and_are_attached_again(
    process: ServerProcess,
    scheduler_address: str,
    external_worker: ExternalWorker,
    shared_dir: Path,
) -> None:
    batch = BatchApi(process.running())
    env_id, _ = _box_node(batch, scheduler_address, external_worker)
    runs = shared_file(shared_dir, "runs")
    job_id, sleep = _held_on_box(batch, env_id, runs)
    assert pids_of(sleep)

    # The worker outlives batchd; the attempt it runs is failed by the restart, so it must not
    # go on running there while its retry runs.
    process.kill()
    process.start()
    wait_until(lambda: not pids_of(sleep), timeout=10, interval=0.1)
    batch.until(
        "DescribeComputeEnv",
        {"EnvId": env_id},
        lambda d: [n["ComputeNodeState"] for n in d["ComputeNodeSet"]] == ["ABNORMAL"],
    )
    _attach_box_again(batch, env_id)
    assert batch.finished(job_id)["JobState"] == "SUCCEED"
    assert runs.read_text().split() == ["1", "2"]


def test_a_stopped_batchd_leaves_nothing_running_on_its_nodes(
    process: ServerProcess, scheduler_address: str, external_worker: ExternalWorker
) -> None:
    batch = BatchApi(process.running())
    env_id, worker = _box_node(batch, scheduler_address, external_worker)
    sleep = unique_sleep()
    job_id = batch.submit([command_task("held", env_id, sleep)])
    running_on(batch, job_id, "held", "box")

    assert process.terminate() == 0  # SIGTERM: its attempt is retried when it is back
    wait_until(lambda: not pids_of(sleep), timeout=10, interval=0.1)
    assert worker.poll() is None  # the operator's process keeps running


def test_detaching_a_node_stops_what_it_runs(
    batch: BatchApi, scheduler_address: str, external_worker: ExternalWorker
) -> None:
    env_id, worker = _box_node(batch, scheduler_address, external_worker)
    sleep = unique_sleep()
    job_id = batch.submit([command_task("held", env_id, sleep)])
    running_on(batch, job_id, "held", "box")

    batch("DetachInstances", {"EnvId": env_id, "InstanceIds": ["box"]})
    assert batch.finished(job_id)["JobState"] == "FAILED"
    task = batch("DescribeTask", {"JobId": job_id, "TaskName": "held"})
    assert task["TaskInstanceSet"][0]["StateReason"] == "COMPUTE_NODE_TERMINATED"
    wait_until(lambda: not pids_of(sleep), timeout=10, interval=0.1)
    assert worker.poll() is None


def test_a_scheduler_back_within_the_reconnect_time_is_connected_to_afresh(
    batch: BatchApi,
    dask_scheduler: DaskScheduler,
    external_worker: ExternalWorker,
    shared_dir: Path,
) -> None:
    env_id, _ = _box_node(batch, dask_scheduler.address, external_worker)
    runs = shared_file(shared_dir, "runs")
    job_id, sleep = _held_on_box(batch, env_id, runs)

    # The scheduler restarts on its address at once: Dask's client is back on it within its
    # reconnect time, but subscribed to nothing. The worker closes with the old scheduler, and
    # stops the command at once (not after Dask's 30 s wait for its running task).
    dask_scheduler.kill()
    dask_scheduler.start()
    batch.until(
        "DescribeComputeEnv",
        {"EnvId": env_id},
        lambda d: [n["ComputeNodeState"] for n in d["ComputeNodeSet"]] == ["ABNORMAL"],
        timeout=30,
    )
    wait_until(lambda: not pids_of(sleep), timeout=10, interval=0.1)

    # The operator starts the worker again and attaches it again: the retry runs there and
    # batchd hears of it.
    external_worker(dask_scheduler.address, "box")
    _attach_box_again(batch, env_id)
    assert batch.finished(job_id)["JobState"] == "SUCCEED"
    assert runs.read_text().split() == ["1", "2"]
