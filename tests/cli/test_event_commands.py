"""`batchd events ID|show|replay|--follow` as a subprocess against the real server.

Jobs run on an environment of 0 nodes and are terminated (5 events, no worker needed); the
official Batch and CMQ SDKs set the scene.
"""

from __future__ import annotations

import json
import re
import signal
from typing import Any

import pytest

from tests.api.tc3.test_event_history import (
    TERMINATED,
    delete_topic,
    history,
    idle_env,
    terminated_job,
    topic_with_queue,
    undeliverable_gauge,
    until_history,
    waiting_job,
)
from tests.batch.conftest import BatchApi
from tests.cli.conftest import Cli
from tests.support import CmqAccounts, RunningServer

# Every step is a fresh `batchd` process (about a second each, more on a busy machine).
pytestmark = pytest.mark.timeout(300)

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture
def batch(server: RunningServer) -> BatchApi:
    return BatchApi(server)


@pytest.fixture
def account(server: RunningServer, cmq_accounts: CmqAccounts) -> Any:
    return cmq_accounts(server.base_url)


def active_messages(account: Any, queue: str) -> int:
    return int(account.get_queue(queue).get_attributes().activeMsgNum)


def test_history_table_json_and_undeliverable_events(
    cli: Cli, server: RunningServer, batch: BatchApi, account: Any
) -> None:
    topic_with_queue(account, "audit", "audit-q")
    env_id = idle_env(batch, "cli-idle")
    configs = [{"EventName": "TASK_INSTANCE_FAILED"}, {"EventName": "JOB_FAILED"}]
    job_id = waiting_job(
        batch, env_id, Notifications=[{"TopicName": "audit", "EventConfigs": configs}]
    )
    delete_topic(account, "audit", "audit-q")  # after SubmitJob
    batch("TerminateJob", {"JobId": job_id})
    assert batch.finished(job_id)["JobState"] == "FAILED"

    shown = cli("events", job_id)  # as the issue writes it: no subcommand
    rows = [line for line in shown.stdout.splitlines() if TIME.search(line)]
    assert len(rows) == 5
    for index, row in enumerate(rows[:3]):
        assert "TASK_INSTANCE_FAILED" in row
        assert f"{job_id}/a/{index}" in row
        assert "FAILED" in row.split("TASK_INSTANCE_FAILED", 1)[1]
        assert "topic audit" in row
    assert "TASK_FAILED" in rows[3]
    assert f"{job_id}/a" in rows[3]
    assert "topic audit" not in rows[3]  # no topic asked for it
    assert "JOB_FAILED" in rows[4]
    assert "topic audit" in rows[4]
    assert "4 event(s) could not be delivered" in shown.stderr
    assert f"batchd events replay {job_id} --topic TOPIC" in shown.stderr
    assert undeliverable_gauge(server) == 4

    envelopes = cli.json("events", "show", job_id)
    assert [len(e["Events"]) for e in envelopes] == [1] * 5
    assert [e["Events"][0]["EventName"] for e in envelopes] == TERMINATED
    stored = history(batch, job_id)
    assert [e["Events"][0] for e in envelopes] == [e["Event"] for e in stored]

    limited = cli("events", job_id, "--limit", "2", "-o", "json")
    assert len(limited.json()) == 2
    assert "showing 2 of 5 events" in cli("events", job_id, "--limit", "2").stderr

    # An environment, by name while it exists, by id after it is deleted.
    by_name = cli.json("events", "cli-idle")
    assert [e["Events"][0]["EventName"] for e in by_name] == ["COMPUTE_ENV_CREATED"]
    batch("DeleteComputeEnv", {"EnvId": env_id})
    until_history(batch, env_id, "COMPUTE_ENV_DELETED")
    table = cli("events", env_id).stdout
    assert "COMPUTE_ENV_CREATED" in table
    assert "COMPUTE_ENV_DELETED" in table
    assert "DELETED" in table.split("COMPUTE_ENV_DELETED", 1)[1]


def test_unknown_owners_are_readable_errors(cli: Cli) -> None:
    for args in (
        ["events", "job-zzzzzzzz"],
        ["events", "replay", "env-zzzzzzzz", "--topic", "t"],
        ["events", "no-such-env"],
    ):
        failed = cli(*args, expect=1)
        assert failed.stdout == ""
        (line,) = failed.stderr.splitlines()
        assert line.startswith("batchd: "), line
        assert "ResourceNotFound" in line, line
    no_queue = cli("events", "--follow", "missing", "--count", "1", expect=1)
    assert "queue does not exist" in no_queue.stderr


def test_replay_then_follow_prints_decoded_events(cli: Cli, batch: BatchApi, account: Any) -> None:
    topic_with_queue(account, "feed", "feed-q")
    job_id = terminated_job(batch, idle_env(batch))
    ids = [e["Events"][0]["EventId"] for e in cli.json("events", job_id)]

    named = cli("events", "replay", job_id, "--topic", "feed", "--event-id", ids[4], "-e", ids[0])
    assert f"replayed 2 event(s) of {job_id} to topic feed" in named.stderr
    assert cli.json("events", "replay", job_id, "--topic", "feed") == {"ReplayedCount": 5}

    followed = cli("events", "--follow", "feed-q", "--count", "7", "--wait", "2")
    lines = followed.stdout.splitlines()
    assert len(lines) == 7, str(followed)
    fields = [line.split() for line in lines]
    assert all(TIME.fullmatch(f[0]) for f in fields)
    assert [f[1] for f in fields] == ["TASK_INSTANCE_FAILED", "JOB_FAILED", *TERMINATED]
    assert [f[2] for f in fields] == [
        f"{job_id}/a/0",
        job_id,
        f"{job_id}/a/0",
        f"{job_id}/a/1",
        f"{job_id}/a/2",
        f"{job_id}/a",
        job_id,
    ]
    assert {f[3] for f in fields} == {"FAILED"}
    assert "stopped: 7 message(s) received and deleted" in followed.stderr
    assert active_messages(account, "feed-q") == 0

    # In the background with --raw: each decoded envelope as a JSON line, until Ctrl-C.
    with cli.start("events", "follow", "feed-q", "--raw", "--wait", "2") as follow:
        assert "waiting for events on queue feed-q" in follow.stderr.next()
        cli("events", "replay", job_id, "-t", "feed", "-e", ids[3])
        envelope = json.loads(follow.stdout.next())
        assert envelope["Events"][0]["EventId"] == ids[3]
        assert envelope["Events"][0]["Batch"]["TaskName"] == "a"

        from cmq.queue import Message

        account.get_queue("feed-q").send_message(Message("not an event"))
        assert json.loads(follow.stdout.next()) == "not an event"

        assert follow.signal(signal.SIGINT) == 0
        assert "stopped: 2 message(s)" in follow.stderr.rest()[-1]
        assert "Traceback" not in "\n".join(follow.stderr.seen)
    assert active_messages(account, "feed-q") == 0

    # A message that is no event is shown as it is, and deleted too.
    account.get_queue("feed-q").send_message(Message("[red]plain[/red]"))
    plain = cli("events", "--follow", "feed-q", "-n", "1", "--wait", "2").stdout.strip()
    assert plain.startswith("msg-")
    assert plain.endswith(" (not a batchd event) [red]plain[/red]")
