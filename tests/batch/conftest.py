"""The official Batch SDK pointed at the real server, and helpers to wait on real work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import RunningServer, wait_until


class BatchApi:
    """Calls actions through `tencentcloud-sdk-python-batch` and returns the answer as a dict."""

    def __init__(self, server: RunningServer, method: str = "POST") -> None:
        from tencentcloud.batch.v20170312 import batch_client
        from tencentcloud.common import credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile

        cred = credential.Credential(server.credential.secret_id, server.credential.secret_key)
        profile = HttpProfile(protocol="http", endpoint=server.host, reqMethod=method)
        self.client = batch_client.BatchClient(
            cred, "ap-guangzhou", ClientProfile(httpProfile=profile)
        )

    def __call__(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        from tencentcloud.batch.v20170312 import models

        request = getattr(models, f"{action}Request")()
        request.from_json_string(json.dumps(params))
        answer: dict[str, Any] = json.loads(getattr(self.client, action)(request).to_json_string())
        return answer

    def until(
        self,
        action: str,
        params: dict[str, Any],
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        """Call until `predicate` holds for the answer, failing after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self(action, params)
            if predicate(answer):
                return answer
            if time.monotonic() > deadline:
                raise AssertionError(f"{action} never satisfied the condition; last: {answer}")
            time.sleep(0.1)

    def env(self, nodes: int = 2, name: str = "test-env", **fields: Any) -> str:
        """A compute environment (with these further ComputeEnv `fields`) whose nodes are all
        RUNNING."""
        env_id = str(
            self(
                "CreateComputeEnv",
                {
                    "ComputeEnv": {
                        "EnvName": name,
                        "DesiredComputeNodeCount": nodes,
                        "EnvData": {"InstanceType": "S5.SMALL1"},
                        **fields,
                    },
                    "Placement": {"Zone": "ap-guangzhou-2"},
                },
            )["EnvId"]
        )
        self.until(
            "DescribeComputeEnv",
            {"EnvId": env_id},
            lambda d: (
                [n["ComputeNodeState"] for n in d["ComputeNodeSet"]].count("RUNNING") == nodes
            ),
        )
        return env_id

    def submit(self, tasks: list[dict[str, Any]], **job: Any) -> str:
        answer = self(
            "SubmitJob", {"Placement": {"Zone": "ap-guangzhou-2"}, "Job": {"Tasks": tasks, **job}}
        )
        return str(answer["JobId"])

    def finished(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        return self.until(
            "DescribeJob",
            {"JobId": job_id},
            lambda d: d["JobState"] in ("SUCCEED", "FAILED"),
            timeout,
        )


@pytest.fixture
def batch(server: RunningServer) -> BatchApi:
    return BatchApi(server)


def shared_file(directory: Path, name: str) -> Path:
    """An empty file in `directory` (the `shared_dir` fixture) that every command may read and
    append to, whichever user id it runs under."""
    path = directory / name
    path.touch()
    path.chmod(0o666)
    return path


def command_task(name: str, env_id: str, command: str, **fields: Any) -> dict[str, Any]:
    return {
        "TaskName": name,
        "EnvId": env_id,
        "Application": {"DeliveryForm": "LOCAL", "Command": command},
        **fields,
    }


ExternalWorker = Callable[[str, str], subprocess.Popen[bytes]]


@pytest.fixture
def external_worker(tmp_path: Path) -> Iterator[ExternalWorker]:
    """Starts `dask worker ADDRESS --name NAME` processes; stops them after the test."""
    started: list[subprocess.Popen[bytes]] = []
    dask = str(Path(sys.executable).parent / "dask")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHD_")}

    def start(address: str, name: str) -> subprocess.Popen[bytes]:
        log = tmp_path / f"worker-{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    *(dask, "worker", address, "--name", name, "--nthreads", "1"),
                    *("--resources", "slot=1", "--no-dashboard", "--no-nanny"),
                    *("--host", "127.0.0.1", "--local-directory", str(tmp_path / name)),
                ],
                stdout=subprocess.DEVNULL,
                stderr=out,
                env=env,
            )
        started.append(process)
        wait_until(lambda: b"Registered to" in log.read_bytes(), timeout=30, interval=0.1)
        return process

    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
