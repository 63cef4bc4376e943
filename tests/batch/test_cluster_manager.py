"""A zone whose nodes batchd starts through a Dask cluster manager class (the zones setting):
here `distributed.LocalCluster`, a real manager of worker processes, one cluster per
environment, driven through the official Batch SDK. (dask-jobqueue, dask-kubernetes and
SSHCluster start their workers as Slurm jobs, pods or remote processes the same way; none of
those systems runs here.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from distributed import Client

from batchd.domain import zones
from tests.batch.conftest import BatchApi, command_task, shared_file
from tests.batch.test_attach import call, stdout_of
from tests.support import (
    ServerProcess,
    pids_of,
    server_in_thread,
    unique_sleep,
    wait_until,
)

ZONE = "ap-guangzhou-2"  # the zone BatchApi creates environments in
LOCAL_OPTIONS: dict[str, object] = {
    "processes": True,
    "threads_per_worker": 1,
    "host": "127.0.0.1",
    "dashboard_address": "127.0.0.1:0",
}
LOCAL_CLUSTER = {"cluster": "distributed.LocalCluster", "options": LOCAL_OPTIONS}


@pytest.fixture
def batch(tmp_path: Path) -> Iterator[BatchApi]:
    """batchd on SQLite, its zone's nodes started by a LocalCluster per environment."""
    sources = zones.parse({ZONE: LOCAL_CLUSTER})
    database_url = f"sqlite:///{tmp_path / 'batchd.db'}"
    with server_in_thread(tmp_path / "data", database_url, zones=sources) as running:
        yield BatchApi(running)


def _worker_processes() -> set[int]:
    """The worker processes of this test process's clusters (the server runs in a thread)."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.Error:  # gone, or a zombie about to be reaped: not a live worker
            continue
    return found


def test_nodes_are_workers_the_cluster_manager_starts_and_stops(batch: BatchApi) -> None:
    before = _worker_processes()
    env_id = batch.env(nodes=2, name="managed")
    nodes = batch("DescribeComputeEnv", {"EnvId": env_id})["ComputeNodeSet"]
    node_ids = {n["ComputeNodeId"] for n in nodes}
    assert len(_worker_processes() - before) == 2
    # They are the manager's workers, named by their node ids, taking this environment's work.
    address = call(batch, "DescribeComputeEnv", {"EnvId": env_id})["SchedulerAddress"]
    with Client(address, timeout=10) as client:  # type: ignore[no-untyped-call]
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        assert {w["name"] for w in workers} == node_ids
        assert all(w["resources"].get(f"batchd-node-{env_id}") == 1 for w in workers)

    job_id = batch.submit(
        [command_task("where", env_id, "echo $BATCH_COMPUTE_NODE_ID", TaskInstanceNum=6)]
    )
    assert batch.finished(job_id)["JobState"] == "SUCCEED"
    assert set(stdout_of(batch, job_id, "where")) <= node_ids

    # Scaling down stops a node's worker through the manager.
    batch("ModifyComputeEnv", {"EnvId": env_id, "DesiredComputeNodeCount": 1})
    batch.until("DescribeComputeEnv", {"EnvId": env_id}, lambda d: len(d["ComputeNodeSet"]) == 1)
    wait_until(lambda: len(_worker_processes() - before) == 1, timeout=30, interval=0.2)

    # Deleting the environment closes its cluster: no worker process is left.
    batch("DeleteComputeEnv", {"EnvId": env_id})
    wait_until(lambda: not _worker_processes() - before, timeout=30, interval=0.2)


def test_a_node_the_manager_cannot_start_fails_its_creation(tmp_path: Path) -> None:
    broken_workers = {**LOCAL_OPTIONS, "worker_class": "no_such_module.Worker"}
    sources = zones.parse(
        {
            "ap-guangzhou-5": {"cluster": "distributed.LocalCluster", "options": broken_workers},
            "ap-guangzhou-6": {"cluster": "distributed.NoSuchCluster"},
            "ap-guangzhou-7": {"cluster": "distributed.deploy.cluster.Cluster"},
        }
    )
    database_url = f"sqlite:///{tmp_path / 'batchd.db'}"
    with server_in_thread(
        tmp_path / "data", database_url, zones=sources, node_start_timeout=3.0
    ) as running:
        batch = BatchApi(running)
        for zone, why in (
            ("ap-guangzhou-5", "did not join within 3.0 s"),
            ("ap-guangzhou-6", "cannot start a Dask cluster of distributed.NoSuchCluster"),
            ("ap-guangzhou-7", "is not a SpecCluster with a worker template"),
        ):
            env_id = batch(
                "CreateComputeEnv",
                {
                    "ComputeEnv": {
                        "EnvName": zone,
                        "DesiredComputeNodeCount": 1,
                        "EnvData": {"InstanceType": "S5.SMALL1"},
                        "ResourceMaxRetryCount": 0,  # the failed node stays, not replaced
                    },
                    "Placement": {"Zone": zone},
                },
            )["EnvId"]
            batch.until(
                "DescribeComputeEnv",
                {"EnvId": env_id},
                lambda d: (
                    [n["ComputeNodeState"] for n in d["ComputeNodeSet"]][:1] == ["CREATION_FAILED"]
                ),
                timeout=30,
            )
            activities = batch("DescribeComputeEnvActivities", {"EnvId": env_id})["ActivitySet"]
            (creation,) = activities
            assert creation["ActivityState"] == "FAILED"
            assert why in creation["StateReason"], creation


def test_after_kill_9_of_batchd_the_managers_nodes_start_again(
    tmp_path: Path, shared_dir: Path
) -> None:
    runs = shared_file(shared_dir, "runs")
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    (data_dir / "batchd.toml").write_text(
        f'[zones."{ZONE}"]\ncluster = "distributed.LocalCluster"\n'
        f'[zones."{ZONE}".options]\nprocesses = true\nthreads_per_worker = 1\n'
        'host = "127.0.0.1"\ndashboard_address = "127.0.0.1:0"\n'
    )
    with ServerProcess(data_dir, f"sqlite:///{tmp_path / 'batchd.db'}").serving() as process:
        batch = BatchApi(process.running())
        env_id = batch.env(nodes=1, name="restarted")
        sleep = unique_sleep()
        command = (
            f"echo $BATCH_TASK_INSTANCE_ATTEMPT >> {runs}; "
            f'if [ "$BATCH_TASK_INSTANCE_ATTEMPT" = 1 ]; then {sleep}; fi'
        )
        job_id = batch.submit([command_task("held", env_id, command, MaxRetryCount=1)])
        batch.until("DescribeJob", {"JobId": job_id}, lambda d: d["JobState"] == "RUNNING")
        wait_until(lambda: bool(pids_of(sleep)), timeout=30, interval=0.1)

        process.kill()  # the cluster, its workers and their commands go with it
        wait_until(lambda: not pids_of(sleep), timeout=30, interval=0.1)
        process.start()
        assert batch.finished(job_id, timeout=90)["JobState"] == "SUCCEED"
        assert runs.read_text().split() == ["1", "2"]
        nodes = batch("DescribeComputeEnv", {"EnvId": env_id})["ComputeNodeSet"]
        assert [n["ComputeNodeState"] for n in nodes] == ["RUNNING"]
