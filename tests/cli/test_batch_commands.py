"""`batchd submit|jobs|job|logs|… env|nodes` as a subprocess against the real server.

The server runs real Dask compute environments: each test creates one (about 2 s) and puts
several checks on it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from batchd.store.tables_batch import jobs
from tests.cli.conftest import Cli, Result, clean_env, run
from tests.support import RunningServer, free_port

# Every step is a fresh `batchd` process (about a second each, more on a busy machine).
pytestmark = pytest.mark.timeout(480)

T = TypeVar("T")
DEADLINE = 120.0  # seconds: generous, for a loaded 2-core machine


def until(check: Callable[[], T | None], what: str, timeout: float = DEADLINE) -> T:
    """Call `check` (each call runs `batchd`, so it paces itself) until it returns a value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.2)


def running_env(cli: Cli, name: str, nodes: int = 1) -> str:
    """`batchd env create` and wait until `batchd nodes` shows every node RUNNING."""
    created = cli.json("env", "create", name, "--nodes", str(nodes), "--instance-type", "S5.SMALL1")
    assert created["EnvName"] == name
    env_id = str(created["EnvId"])
    assert env_id.startswith("env-")
    until(lambda: node_states(cli, name) == ["RUNNING"] * nodes, f"{nodes} nodes RUNNING")
    return env_id


def node_states(cli: Cli, env: str) -> list[str]:
    return sorted(n["ComputeNodeState"] for n in cli.json("nodes", env))


def command_task(name: str, env_id: str, command: str, **fields: Any) -> dict[str, Any]:
    return {
        "TaskName": name,
        "EnvId": env_id,
        "Application": {"DeliveryForm": "LOCAL", "Command": command},
        **fields,
    }


def submit_wait(cli: Cli, *args: str, expect: int = 0) -> Result:
    """`batchd submit … --wait`, allowed as long as a busy machine needs."""
    result = run(["submit", *args, "--wait", *cli.options], cli.env, cli.cwd, timeout=DEADLINE)
    assert result.code == expect, str(result)
    assert "Traceback" not in result.stderr, str(result)
    return result


def write(path: Path, document: object) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def job_state(cli: Cli, job_id: str) -> str:
    return str(cli.json("job", job_id)["JobState"])


def final(cli: Cli, job_id: str) -> dict[str, Any]:
    """`batchd job -o json` once the job has ended."""

    def ended() -> dict[str, Any] | None:
        shown: dict[str, Any] = cli.json("job", job_id)
        done = shown["JobState"] in ("SUCCEED", "FAILED") and not shown["NextAction"]
        return shown if done else None

    return until(ended, f"job {job_id} ended")


def test_submit_wait_logs_listing_and_an_env_lifecycle(cli: Cli, tmp_path: Path) -> None:
    env_id = running_env(cli, "cli-env")
    assert [e["EnvId"] for e in cli.json("env", "list")] == [env_id]
    assert "cli-env" in cli("env", "list").stdout
    shown = cli.json("env", "show", env_id)
    assert (shown["EnvName"], shown["DesiredComputeNodeCount"]) == ("cli-env", 1)
    assert "RequestId" not in shown
    (node,) = shown["ComputeNodeSet"]
    table = cli("env", "show", "cli-env").stdout
    assert node["ComputeNodeId"] in table
    assert node["ComputeNodeInstanceId"] in cli("nodes", env_id).stdout
    assert (node["Cpu"], node["Mem"], node["TaskInstanceNumAvailable"]) == (1, 1, 1)

    job_file = write(
        tmp_path / "job.json",
        {
            "JobName": "greeting",
            "Tasks": [
                command_task("hello", env_id, "echo hi; echo careful >&2", TaskInstanceNum=2),
                command_task("after", env_id, "echo done"),
            ],
            "Dependences": [{"StartTask": "hello", "EndTask": "after"}],
        },
    )
    submitted = submit_wait(cli, job_file)
    job_id = submitted.stdout.strip()
    assert job_id.startswith("job-"), str(submitted)
    assert f"job {job_id} SUCCEED" in submitted.stderr
    assert "SUCCEED 3" in submitted.stderr  # the counts over the three task instances

    logs = cli("logs", job_id, "hello").stdout
    for index in (0, 1):
        assert f"==> {job_id} hello [{index}] stdout <==\nhi\n" in logs
        assert f"==> {job_id} hello [{index}] stderr <==\ncareful\n" in logs
    (one,) = cli.json("logs", job_id, "hello", "1")
    assert (one["TaskInstanceIndex"], one["Stdout"], one["Stderr"]) == (1, "hi\n", "careful\n")
    assert [entry["Stdout"] for entry in cli.json("logs", job_id, "after")] == ["done\n"]

    (listed,) = cli.json("jobs")
    assert (listed["JobId"], listed["JobName"], listed["JobState"]) == (
        job_id,
        "greeting",
        "SUCCEED",
    )
    assert [j["JobId"] for j in cli.json("jobs", "--state", "SUCCEED", "--name", "greeting")] == [
        job_id
    ]
    assert cli.json("jobs", "--state", "FAILED") == []
    assert job_id in cli("jobs").stdout

    described = cli.json("job", job_id)
    assert described["JobState"] == "SUCCEED"
    assert [t["TaskName"] for t in described["Tasks"]] == ["hello", "after"]
    hello = described["Tasks"][0]["TaskInstanceSet"]
    assert [
        (i["TaskInstanceIndex"], i["TaskInstanceState"], i["Attempt"], i["ExitCode"]) for i in hello
    ] == [(0, "SUCCEED", 1, 0), (1, "SUCCEED", 1, 0)]
    table = cli("job", job_id).stdout
    assert "Attempt" in table
    assert "hello -> after" in table
    assert "task after" in table

    assert f"deleted job {job_id}" in cli("delete", job_id).stderr
    gone = cli("job", job_id, expect=1)
    assert "ResourceNotFound.Job" in gone.stderr
    assert gone.stdout == ""

    assert "2 compute nodes desired" in cli("env", "scale", "cli-env", "2").stderr
    until(lambda: node_states(cli, env_id) == ["RUNNING", "RUNNING"], "scaled up to 2 nodes")
    cli("env", "scale", env_id, "1")
    until(lambda: node_states(cli, env_id) == ["RUNNING"], "scaled down to 1 node")
    assert cli.json("env", "show", env_id)["DesiredComputeNodeCount"] == 1

    assert f"deleting env {env_id}" in cli("env", "delete", "cli-env").stderr
    until(lambda: cli.json("env", "list") == [], "env deleted")
    missing = cli("nodes", "cli-env", expect=1)
    assert "no compute environment is named 'cli-env'" in missing.stderr


def test_failed_job_reasons_retry_and_terminate(cli: Cli, tmp_path: Path) -> None:
    env_id = running_env(cli, "fail-env")
    job_file = write(
        tmp_path / "job.json",
        {
            "Job": {
                "Tasks": [
                    command_task("greet", env_id, "echo hi"),
                    command_task("boom", env_id, "echo oops >&2; exit 3", MaxRetryCount=1),
                ],
                "Dependences": [{"StartTask": "greet", "EndTask": "boom"}],
            },
            "Placement": {"Zone": "ap-guangzhou-2"},
        },
    )
    failed = submit_wait(cli, job_file, expect=1)
    job_id = failed.stdout.strip()
    assert f"job {job_id} FAILED: task boom failed" in failed.stderr
    assert "task boom instance 0: FAILED, ExitCode 3, StateReason EXIT_CODE_NON_ZERO" in (
        failed.stderr
    )
    assert "Traceback" not in failed.stderr
    assert cli.json("job", job_id)["Tasks"][1]["TaskInstanceSet"][0]["Attempt"] == 2  # retried
    (listed,) = cli.json("jobs", "--state", "FAILED")
    assert (listed["JobId"], listed["Placement"]["Zone"]) == (job_id, "ap-guangzhou-2")
    (log,) = cli.json("logs", job_id, "boom")
    assert log["Stderr"] == "oops\n"

    assert job_id in cli("retry", job_id).stderr
    retried = final(cli, job_id)
    assert retried["JobState"] == "FAILED"
    boom = retried["Tasks"][1]["TaskInstanceSet"][0]
    assert (boom["ExitCode"], boom["StateReason"]) == (3, "EXIT_CODE_NON_ZERO")
    cli("delete", job_id)

    # With -o json: one document at the end, with the failed instances.
    as_json = submit_wait(cli, job_file, "--output", "json", expect=1).json()
    assert as_json["JobState"] == "FAILED"
    assert as_json["StateReason"] == "task boom failed"
    assert as_json["FailedTaskInstances"] == [
        {
            "TaskName": "boom",
            "TaskInstanceIndex": 0,
            "TaskInstanceState": "FAILED",
            "ExitCode": 3,
            "StateReason": "EXIT_CODE_NON_ZERO",
        }
    ]

    sleepy = write(tmp_path / "sleep.json", {"Tasks": [command_task("nap", env_id, "sleep 300")]})
    nap_id = cli("submit", sleepy, "--client-token", "nap-1").stdout.strip()
    assert cli("submit", sleepy, "--client-token", "nap-1").stdout.strip() == nap_id
    until(lambda: job_state(cli, nap_id) == "RUNNING", f"job {nap_id} RUNNING")
    busy = cli("delete", nap_id, expect=1)
    assert "ResourceInUse.Job" in busy.stderr
    assert f"terminating job {nap_id}" in cli("terminate", nap_id).stderr
    ended = final(cli, nap_id)
    assert ended["JobState"] == "FAILED"
    (nap,) = ended["Tasks"][0]["TaskInstanceSet"]
    assert (nap["TaskInstanceState"], nap["StateReason"]) == ("FAILED", "TERMINATED_BY_USER")
    assert ended["Zone"] == "ap-guangzhou-1"  # the default: <region>-1
    cli("delete", nap_id)
    assert len(cli.json("jobs")) == 1  # the -o json job


def canonical(event_name: str) -> str:
    """`JobSucceed` -> `JOB_SUCCEED` (events.md §2.3); canonical names unchanged."""
    return (
        event_name if event_name.isupper() else re.sub(r"(?<!^)(?=[A-Z])", "_", event_name).upper()
    )


def test_legacy_notification_spelling_in_a_job_file(
    cli: Cli, server: RunningServer, tmp_path: Path
) -> None:
    env_id = running_env(cli, "notify-env")
    job_file = write(
        tmp_path / "job.json",
        {
            "JobName": "notified",
            "Tasks": [command_task("only", env_id, "true")],
            "notifications": [
                {
                    "topic_name": "job-message",
                    "event_configs": [
                        {"event_name": "JobFailed"},
                        {
                            "event_name": "JobSucceed",
                            "event_vars": [{"name": "jobSucceed", "value": "Success"}],
                        },
                    ],
                }
            ],
        },
    )
    refused = cli("submit", job_file, expect=1)
    assert "InvalidParameter.NotificationTopicName" in refused.stderr
    assert "job-message" in refused.stderr
    assert cli.json("jobs") == []

    cli("topic", "create", "job-message")
    job_id = submit_wait(cli, job_file).stdout.strip()
    assert job_id.startswith("job-")

    # The answers of the API do not echo a job's notifications: look at what was stored.
    engine = create_engine(server.database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                select(jobs.c.notifications).where(jobs.c.job_id == job_id)
            ).scalar_one()
    finally:
        engine.dispose()
    (notification,) = json.loads(stored)
    assert notification["TopicName"] == "job-message"
    configs = notification["EventConfigs"]
    assert [canonical(c["EventName"]) for c in configs] == ["JOB_FAILED", "JOB_SUCCEED"]
    assert configs[1]["EventVars"] == [{"Name": "jobSucceed", "Value": "Success"}]


def test_usage_and_connection_errors(tmp_path: Path) -> None:
    """No server needed: a bad file or bad options exit 2, an unreachable server exits 1."""
    env = clean_env({"BATCHD_SECRET_ID": "AKIDx", "BATCHD_SECRET_KEY": "key"})
    endpoint = ["--endpoint", f"http://127.0.0.1:{free_port()}"]
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "job.json").write_text('{"Tasks": []}')
    cases: list[tuple[list[str], int, str]] = [
        (["submit", "missing.json"], 2, "cannot read missing.json"),
        (["submit", "list.json"], 2, "must hold a JSON object"),
        (["submit", "broken.json"], 2, "is not valid JSON"),
        (["env", "create", "e", "--nodes", "1", "--cpu", "2"], 2, "--cpu and --memory together"),
        (
            [
                "env",
                "create",
                "e",
                "--nodes",
                "1",
                "--cpu",
                "2",
                "--memory",
                "2",
                "--instance-type",
                "S5.SMALL1",
            ],
            2,
            "not both",
        ),
        (["submit", "job.json"], 1, "cannot reach"),
        (["jobs"], 1, "cannot reach"),
    ]
    for args, code, message in cases:
        result = run([*args, *endpoint], env, tmp_path)
        assert result.code == code, str(result)
        assert message in result.stderr, str(result)
        assert "Traceback" not in result.stderr, str(result)
    ftp = run(["env", "list", "--endpoint", "ftp://x"], env, tmp_path)
    assert ftp.code == 2, str(ftp)
    assert "endpoint must look like" in ftp.stderr
    no_key = run(["jobs", *endpoint], clean_env(), tmp_path)
    assert no_key.code == 2, str(no_key)
    assert "no credentials found" in no_key.stderr
