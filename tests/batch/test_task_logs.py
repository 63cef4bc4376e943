"""Task logs through the official SDK and `batchd logs`: the live tails of a running instance,
and the RedirectLocalInfo copies of each attempt's stdout/stderr (batch-api.md §3, §4.8)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from tests.batch.conftest import BatchApi, command_task
from tests.cli.conftest import Cli, clean_env
from tests.support import RunningServer


def _decoded(log: str) -> bytes:
    prefix, _, data = log.partition("base64,")
    assert prefix == "data:text/plain;charset=utf-8;"
    return base64.b64decode(data)


def _cli(server: RunningServer, cwd: Path) -> Cli:
    env = clean_env(
        {
            "BATCHD_APPID": server.credential.app_id,
            "BATCHD_SECRET_ID": server.credential.secret_id,
            "BATCHD_SECRET_KEY": server.credential.secret_key,
        }
    )
    return Cli(env, cwd, ["--endpoint", server.base_url])


def test_a_running_instance_shows_its_output_so_far(
    batch: BatchApi, server: RunningServer, tmp_path: Path
) -> None:
    env_id = batch.env(nodes=1)
    job_id = batch.submit([command_task("live", env_id, "echo started; echo warn >&2; sleep 30")])
    params = {"JobId": job_id, "TaskName": "live"}
    batch.until(
        "DescribeTask",
        params,
        lambda d: d["TaskInstanceSet"][0]["TaskInstanceState"] == "RUNNING",
    )

    def shows_started(answer: dict[str, Any]) -> bool:
        (entry,) = answer["TaskInstanceLogSet"]
        return _decoded(entry["StdoutLog"]) == b"started\n"

    logs = batch.until("DescribeTaskLogs", params, shows_started, timeout=30)
    assert _decoded(logs["TaskInstanceLogSet"][0]["StderrLog"]) == b"warn\n"
    by_index = batch("DescribeTaskLogs", {**params, "TaskInstanceIndexes": [0]})
    assert _decoded(by_index["TaskInstanceLogSet"][0]["StdoutLog"]) == b"started\n"
    task = batch("DescribeTask", params)
    assert task["TaskInstanceSet"][0]["TaskInstanceState"] == "RUNNING"  # still running

    cli = _cli(server, tmp_path)
    (entry,) = cli.json("logs", job_id, "live", "0")
    assert (entry["Stdout"], entry["Stderr"]) == ("started\n", "warn\n")
    assert "started" in cli("logs", job_id, "live").stdout

    batch("TerminateJob", {"JobId": job_id})
    assert batch.finished(job_id, timeout=30)["JobState"] == "FAILED"
    # Ended: the tails stored with the attempt answer, and say the same.
    logs = batch("DescribeTaskLogs", params)
    assert _decoded(logs["TaskInstanceLogSet"][0]["StdoutLog"]) == b"started\n"


def test_redirect_local_info_copies_each_instance_s_streams(
    batch: BatchApi, tmp_path: Path
) -> None:
    env_id = batch.env(nodes=2)
    out_dir, err_dir = tmp_path / "out", tmp_path / "err"
    job_id = batch.submit(
        [
            command_task(
                "copied",
                env_id,
                "echo out $BATCH_TASK_INSTANCE_INDEX; echo err $BATCH_TASK_INSTANCE_INDEX >&2",
                TaskInstanceNum=2,
                RedirectLocalInfo={
                    "StdoutLocalPath": str(out_dir),
                    "StderrLocalPath": str(err_dir),
                    "StderrLocalFileName": "${BATCH_TASK_NAME}-${BATCH_TASK_INSTANCE_INDEX}.err",
                },
            )
        ]
    )
    assert batch.finished(job_id)["JobState"] == "SUCCEED"
    for index in range(2):
        # The default name is RedirectInfo's; a given one has its placeholders resolved.
        stdout = out_dir / f"stdout.{job_id}.copied.{index}.log"
        assert stdout.read_bytes() == f"out {index}\n".encode()
        assert (err_dir / f"copied-{index}.err").read_bytes() == f"err {index}\n".encode()
