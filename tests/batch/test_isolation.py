"""Commands without batchd's privileges (compute/isolation.py): a job whose commands try to read
the credentials file, the database, another attempt's work dir or batchd's settings fails to,
while an ordinary job beside it — staged inputs, outputs, logs, termination — succeeds."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from tests.batch.conftest import BatchApi, command_task
from tests.support import ServerProcess

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(os.geteuid() != 0, reason="commands switch user ids only under root"),
]


def stderr_of(batch: BatchApi, job_id: str, task: str) -> str:
    (log,) = batch("DescribeTaskLogs", {"JobId": job_id, "TaskName": task})["TaskInstanceLogSet"]
    return base64.b64decode((log["StderrLog"] or "").partition("base64,")[2]).decode()


def stdout_of(batch: BatchApi, job_id: str, task: str) -> str:
    (log,) = batch("DescribeTaskLogs", {"JobId": job_id, "TaskName": task})["TaskInstanceLogSet"]
    return base64.b64decode((log["StdoutLog"] or "").partition("base64,")[2]).decode()


def test_commands_cannot_read_what_is_not_theirs(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, f"sqlite:///{data_dir / 'batchd.db'}")
    inputs, outputs = tmp_path / "inputs", tmp_path / "outputs"
    inputs.mkdir(mode=0o700)
    outputs.mkdir(mode=0o700)
    (inputs / "in.txt").write_text("staged for the command\n")
    with server.serving():
        batch = BatchApi(server.running())
        env_id = batch.env(nodes=2)
        holder = batch.submit(
            [command_task("holder", env_id, "echo mine > secret.txt; sleep 6")], JobName="holder"
        )
        holder_dir = data_dir / "work" / holder / "holder" / "0.1"
        batch.until("DescribeJob", {"JobId": holder}, lambda d: d["JobState"] == "RUNNING")
        prying = batch.submit(
            [
                command_task("credentials", env_id, f"cat {data_dir}/credentials.json"),
                command_task("database", env_id, f"cat {data_dir}/batchd.db > /dev/null"),
                command_task("listing", env_id, f"ls {data_dir}"),
                command_task("neighbour", env_id, f"sleep 1; cat {holder_dir}/secret.txt"),
                command_task("settings", env_id, "env | grep BATCHD_ && exit 1; exit 0"),
            ],
            JobName="prying",
        )
        ordinary = batch.submit(
            [
                command_task(
                    "ordinary",
                    env_id,
                    "id -u; cat in.txt; echo made > out.txt; mkdir sub && echo deep > sub/f; "
                    "sleep 30 & wait; true",
                    Timeout=3,
                    InputMappings=[
                        {"SourcePath": f"file://{inputs}/in.txt", "DestinationPath": "in.txt"}
                    ],
                    OutputMappings=[
                        {"SourcePath": "out.txt", "DestinationPath": f"file://{outputs}/"}
                    ],
                )
            ],
        )
        tidy = batch.submit(
            [
                command_task(
                    "tidy",
                    env_id,
                    "cat in.txt; echo made > out.txt",
                    InputMappings=[
                        {"SourcePath": f"file://{inputs}/in.txt", "DestinationPath": "in.txt"}
                    ],
                    OutputMappings=[
                        {"SourcePath": "out.txt", "DestinationPath": f"file://{outputs}/"}
                    ],
                )
            ],
        )

        assert batch.finished(prying)["JobState"] == "FAILED"
        tasks = {
            t["TaskName"]: t["TaskState"]
            for t in batch("DescribeJob", {"JobId": prying})["TaskSet"]
        }
        assert tasks == {
            "credentials": "FAILED",
            "database": "FAILED",
            "listing": "FAILED",
            "neighbour": "FAILED",
            "settings": "SUCCEED",
        }
        for task in ("credentials", "database", "listing", "neighbour"):
            assert "Permission denied" in stderr_of(batch, prying, task), task
        assert batch.finished(holder)["JobState"] == "SUCCEED"

        # The ordinary job ran under an id of its own, staged in and out, and its timeout
        # ended its whole process tree.
        assert batch.finished(tidy)["JobState"] == "SUCCEED"
        assert (outputs / "out.txt").read_text() == "made\n"
        assert stdout_of(batch, tidy, "tidy") == "staged for the command\n"
        assert batch.finished(ordinary, timeout=60)["JobState"] == "FAILED"
        (instance,) = batch("DescribeTask", {"JobId": ordinary, "TaskName": "ordinary"})[
            "TaskInstanceSet"
        ]
        assert instance["StateReason"] == "TIMEOUT"
        uid = int(stdout_of(batch, ordinary, "ordinary").split()[0])
        assert uid >= 2_000_000_000

    # Every work dir is root's again once its attempt ended.
    for work_dir in (data_dir / "work").glob("*/*/*"):
        assert work_dir.stat().st_uid == 0, work_dir
        assert stat.S_IMODE(work_dir.stat().st_mode) == 0o700, work_dir
