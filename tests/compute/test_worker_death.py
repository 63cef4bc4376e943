"""No orphans: when the Dask worker process dies, the command it launched dies with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from distributed.scheduler import KilledWorker

from batchd.compute.runner import run_instance
from tests.compute.conftest import DaskNode, SpecFactory
from tests.compute.procfs import is_alive, read_pid
from tests.support import wait_until


def test_worker_death_takes_the_command_with_it(
    disposable_dask_node: DaskNode, make_spec: SpecFactory
) -> None:
    spec = make_spec(key="job-abc12345/Task1/0/4", command="echo $$ > pid; exec sleep 1000")
    client, address = disposable_dask_node.client, disposable_dask_node.address
    future = client.submit(run_instance, spec, key=spec.key, pure=False)
    pid_file = Path(spec.work_dir) / "pid"
    wait_until(lambda: read_pid(pid_file) is not None, timeout=30)
    sleep_pid = read_pid(pid_file)
    assert sleep_pid is not None
    assert is_alive(sleep_pid)
    worker_pid = client.run(os.getpid, workers=[address])[address]

    os.kill(worker_pid, signal.SIGKILL)

    wait_until(lambda: not is_alive(sleep_pid), timeout=3)
    with pytest.raises(KilledWorker):
        future.result(timeout=30)


def test_runner_process_death_takes_the_command_with_it(tmp_path: Path) -> None:
    # The same guarantee without Dask: a plain Python process stands in for the worker.
    work_dir = tmp_path / "work"
    code = (
        "import sys\n"
        "from batchd.compute.runner import InstanceSpec, run_instance\n"
        "run_instance(InstanceSpec(key='job-abc12345/Task1/0/1', job_id='job-abc12345',\n"
        "    task_name='Task1', instance_num=1, index=0, attempt=1, env_id='env-abc12345',\n"
        "    node_id='node-abc12345', work_dir=sys.argv[1],\n"
        "    command='echo $$ > pid; exec sleep 1000'))\n"
    )
    runner = subprocess.Popen([sys.executable, "-c", code, str(work_dir)])
    try:
        wait_until(lambda: read_pid(work_dir / "pid") is not None, timeout=10)
        sleep_pid = read_pid(work_dir / "pid")
        assert sleep_pid is not None
        assert is_alive(sleep_pid)

        runner.kill()
        runner.wait(timeout=5)

        wait_until(lambda: not is_alive(sleep_pid), timeout=3)
    finally:
        runner.kill()
        runner.wait(timeout=5)
