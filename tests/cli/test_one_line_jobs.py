"""`batchd submit --command …` runs a command N times from the shell (the same SubmitJob a job
file would make), and no table of the CLI wraps or cuts an id in an 80-column terminal."""

from __future__ import annotations

import re

import pytest

from tests.cli.conftest import Cli
from tests.support import RunningServer

pytestmark = pytest.mark.timeout(300)  # every step is a fresh `batchd` process

ID = re.compile(r"\b(?:job|env|node|ins|queue|topic)-[a-z0-9]{8}\b")


def narrow(cli: Cli) -> Cli:
    return Cli({**cli.env, "COLUMNS": "80"}, cli.cwd, cli.options)


def test_a_command_three_times_and_its_logs(cli: Cli, server: RunningServer) -> None:
    cli("topic", "create", "events")
    cli("queue", "create", "events-q")
    cli("subscription", "create", "events", "to-q", "--to", "events-q")

    submitted = cli(
        "submit",
        "--command",
        'echo "hi from $BATCH_TASK_INSTANCE_INDEX $GREETING"',
        "--instances",
        "3",
        "--env-var",
        "GREETING=hello",
        "--retries",
        "1",
        "--timeout",
        "60",
        "--notify",
        "events=JOB_SUCCEED,TASK_INSTANCE_SUCCEED",
        "--name",
        "three",
        "--wait",
    )
    job_id = submitted.stdout.split()[0]
    logs = cli("logs", job_id).stdout
    events = cli.json("queue", "receive", "events-q", "--count", "4", "--decode", "--wait", "5")
    described = cli.json("job", job_id)

    assert f"job {job_id} SUCCEED" in submitted.stderr
    assert [line for line in logs.splitlines() if line.startswith("hi from")] == [
        "hi from 0 hello",
        "hi from 1 hello",
        "hi from 2 hello",
    ]
    names = sorted(m["msgBody"]["Events"][0]["EventName"] for m in events)
    assert names == ["JOB_SUCCEED", *["TASK_INSTANCE_SUCCEED"] * 3]
    assert described["JobName"] == "three"
    refused = cli("submit", "--instances", "2", expect=2)
    assert "--command" in refused.stderr


def test_no_table_wraps_an_id_at_80_columns(cli: Cli, server: RunningServer) -> None:
    env_id = cli.json("env", "create", "a-rather-long-environment-name", "--nodes", "1")["EnvId"]
    job_id = cli(
        "submit", "--command", "true", "--env", env_id, "--name", "narrow", "--wait"
    ).stdout.split()[0]
    cli("queue", "create", "a-queue-with-a-long-name-for-the-table")
    narrow_cli = narrow(cli)

    for command in (
        ["jobs"],
        ["job", job_id],
        ["env", "list"],
        ["env", "show", env_id],
        ["nodes", env_id],
        ["queue", "list"],
        ["key", "list"],
        ["account", "list"],
        ["events", job_id],
    ):
        shown = narrow_cli(*command).stdout
        wanted = set(ID.findall(cli(*command).stdout))  # at 200 columns, as the test runs
        assert wanted <= set(ID.findall(shown)), (command, shown)
        assert all(len(line) <= 80 for line in shown.splitlines()), (command, shown)
