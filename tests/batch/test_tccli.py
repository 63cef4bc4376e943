"""tccli, the official command line, drives a real environment and job through batchd."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.support import RunningServer, run_tccli


def tccli(server: RunningServer, home: Path, *args: str) -> Any:
    done = run_tccli(
        "batch", list(args), endpoint=server.base_url, credential=server.credential, home=home
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_tccli_creates_an_environment_and_runs_a_job(server: RunningServer, tmp_path: Path) -> None:
    env = tccli(
        server,
        tmp_path,
        "CreateComputeEnv",
        "--ComputeEnv",
        json.dumps({"EnvName": "cli", "DesiredComputeNodeCount": 1}),
        "--Placement",
        json.dumps({"Zone": "ap-guangzhou-2"}),
    )
    env_id = env["EnvId"]
    deadline = time.monotonic() + 60
    while True:
        nodes = tccli(server, tmp_path, "DescribeComputeEnv", "--EnvId", env_id)["ComputeNodeSet"]
        if [n["ComputeNodeState"] for n in nodes] == ["RUNNING"]:
            break
        assert time.monotonic() < deadline, nodes
        time.sleep(0.2)
    job = {
        "JobName": "from-tccli",
        "Tasks": [
            {
                "TaskName": "hello",
                "EnvId": env_id,
                "Application": {"DeliveryForm": "LOCAL", "Command": "echo hello from tccli"},
            }
        ],
    }
    job_id = tccli(
        server,
        tmp_path,
        "SubmitJob",
        "--Job",
        json.dumps(job),
        "--Placement",
        json.dumps({"Zone": "ap-guangzhou-2"}),
    )["JobId"]
    deadline = time.monotonic() + 60
    while (state := tccli(server, tmp_path, "DescribeJob", "--JobId", job_id)["JobState"]) not in (
        "SUCCEED",
        "FAILED",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert state == "SUCCEED"
    listed = tccli(server, tmp_path, "DescribeJobs")
    assert [j["JobName"] for j in listed["JobSet"]] == ["from-tccli"]
