"""tccli, the official command line, drives a real environment and job through batchd."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support import RunningServer


def tccli(server: RunningServer, home: Path, *args: str) -> Any:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TENCENTCLOUD_")}
    env.update(
        HOME=str(home),  # tccli writes its configuration on first run
        TENCENTCLOUD_SECRET_ID=server.credential.secret_id,
        TENCENTCLOUD_SECRET_KEY=server.credential.secret_key,
        TENCENTCLOUD_REGION="ap-guangzhou",
    )
    command = [str(Path(sys.executable).parent / "tccli"), "batch", *args]
    done = subprocess.run(
        [*command, "--endpoint", server.base_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
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
