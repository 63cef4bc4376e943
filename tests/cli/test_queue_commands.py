"""`batchd queue ...` as a subprocess against the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import signal
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, clean_env, run
from tests.support import free_port

# Every step is a fresh `batchd` process (about a second each, more on a busy machine).
pytestmark = pytest.mark.timeout(300)


def b64(document: object) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def counters(cli: Cli, name: str) -> tuple[int, int, int]:
    shown = cli.json("queue", "show", name)
    return shown["activeMsgNum"], shown["inactiveMsgNum"], shown["delayMsgNum"]


def test_create_list_show_delete_with_json_output(cli: Cli) -> None:
    created = cli.json("queue", "create", "orders", "--visibility-timeout", "40")
    assert created["queueName"] == "orders"
    assert created["queueId"].startswith("queue-")
    cli.json("queue", "create", "other", "--polling-wait-seconds", "2", "--max-msg-size", "2048")

    listed = cli.json("queue", "list")
    assert {q["queueName"]: q["queueId"] for q in listed}["orders"] == created["queueId"]
    assert [q["queueName"] for q in cli.json("queue", "list", "--search", "ord")] == ["orders"]

    shown = cli.json("queue", "show", "orders")
    assert shown["queueName"] == "orders"
    assert shown["visibilityTimeout"] == 40
    assert shown["activeMsgNum"] == 0
    assert "code" not in shown
    assert "requestId" not in shown
    other = cli.json("queue", "show", "other")
    assert (other["pollingWaitSeconds"], other["maxMsgSize"]) == (2, 2048)

    deleted = cli("queue", "delete", "other")
    assert "deleted queue other" in deleted.stderr
    assert [q["queueName"] for q in cli.json("queue", "list")] == ["orders"]


def test_send_receive_purge_with_json_output(cli: Cli) -> None:
    cli("queue", "create", "orders")
    (one,) = cli.json("queue", "send", "orders", "first")
    batch = cli.json("queue", "send", "orders", "second", "third")
    assert [len(m) for m in (one, *batch)] == [1, 1, 1]
    sent_ids = [one["msgId"], *(m["msgId"] for m in batch)]
    assert len(set(sent_ids)) == 3
    assert counters(cli, "orders") == (3, 0, 0)

    received = cli.json("queue", "receive", "orders", "-n", "2", "--delete")
    assert [m["msgBody"] for m in received] == ["first", "second"]
    assert [m["msgId"] for m in received] == sent_ids[:2]
    assert all(m["dequeueCount"] == 1 and m["receiptHandle"] for m in received)
    (kept,) = cli.json("queue", "receive", "orders", "--wait", "1")
    assert kept["msgBody"] == "third"
    assert counters(cli, "orders") == (0, 1, 0)  # received, not deleted: hidden

    assert cli.json("queue", "receive", "orders") == []  # nothing visible: still valid JSON

    cli.json("queue", "send", "orders", "later", "--delay", "60")
    assert counters(cli, "orders") == (0, 1, 1)
    purged = cli("queue", "purge", "orders")
    assert "purged queue orders" in purged.stderr
    assert counters(cli, "orders") == (0, 0, 0)


def test_table_output_shows_data_verbatim(cli: Cli) -> None:
    assert "jobs" in cli("queue", "create", "jobs").stdout
    assert "jobs" in cli("queue", "list").stdout
    shown = cli("queue", "show", "jobs").stdout
    assert "visibilityTimeout" in shown
    assert "activeMsgNum" in shown

    body = "[/oops] [bold]not markup[/bold]"  # rich markup in a body must not be interpreted
    sent = cli("queue", "send", "jobs", body)
    (msg_id,) = [w for w in sent.stdout.split() if w.startswith("msg-")]

    received = cli("queue", "receive", "jobs", "--delete")
    assert msg_id in received.stdout  # whole, not shortened with "…"
    assert body in received.stdout
    assert "msgBody" in received.stdout
    assert "receiptHandle" in received.stdout

    empty = cli("queue", "receive", "jobs")
    assert empty.stdout == ""
    assert "no message" in empty.stderr


def test_receive_decode_shows_base64_json_bodies_as_json(cli: Cli) -> None:
    event = {"event": "job.succeeded", "jobId": "job-1", "exitCode": 0}
    cli("queue", "create", "events")
    cli("queue", "send", "events", b64(event), "plain text, not Base64")

    decoded = cli.json("queue", "receive", "events", "-n", "2", "--decode")
    assert [m["msgBody"] for m in decoded] == [event, "plain text, not Base64"]

    cli("queue", "send", "events", b64(event))
    table = cli("queue", "receive", "events", "--decode", "--delete").stdout
    assert json.dumps(event) in table  # shown as JSON text, not Python repr, not Base64
    assert b64(event) not in table

    cli("queue", "send", "events", b64(event))
    (raw,) = cli.json("queue", "receive", "events")  # without --decode: as sent
    assert raw["msgBody"] == b64(event)


def test_receive_follow_streams_json_lines_and_deletes(cli: Cli) -> None:
    cli("queue", "create", "stream")
    # a short long-poll: the server keeps an abandoned poll open until its wait ends
    follow_args = ["--follow", "-o", "json", "-n", "16", "--wait", "3"]
    with cli.start("queue", "receive", "stream", *follow_args) as follow:
        assert "waiting for messages on queue stream" in follow.stderr.next()
        cli("queue", "send", "stream", "a", "b", "c")
        lines = [json.loads(follow.stdout.next()) for _ in range(3)]
        assert [m["msgBody"] for m in lines] == ["a", "b", "c"]
        assert all(m["msgId"].startswith("msg-") for m in lines)

        cli("queue", "send", "stream", "d")
        assert json.loads(follow.stdout.next())["msgBody"] == "d"

        assert follow.signal(signal.SIGTERM) == 0
        assert follow.stdout.rest() == []
        assert "stopped: 4 messages received and deleted" in follow.stderr.rest()[-1]
        assert "Traceback" not in "\n".join(follow.stderr.seen)
    assert counters(cli, "stream") == (0, 0, 0)


def test_receive_follow_table_decode_and_ctrl_c(cli: Cli) -> None:
    event = {"event": "job.failed", "jobId": "job-2"}
    cli("queue", "create", "watch")
    cli("queue", "send", "watch", b64(event))  # sent before following: picked up too
    with cli.start("queue", "receive", "watch", "-f", "--decode", "--wait", "2") as follow:
        first = follow.stdout.next()
        assert first.startswith("msg-")
        assert json.loads(first.split(" ", 1)[1]) == event
        cli("queue", "send", "watch", "[red]plain[/red]")
        second = follow.stdout.next()
        assert second.endswith(" [red]plain[/red]")

        assert follow.signal(signal.SIGINT) == 0  # Ctrl-C
        assert "stopped: 2 messages" in follow.stderr.rest()[-1]
    assert counters(cli, "watch") == (0, 0, 0)


def test_unknown_queue_is_a_readable_error(cli: Cli) -> None:
    for args in (
        ["queue", "show", "missing"],
        ["queue", "send", "missing", "x"],
        ["queue", "receive", "missing"],
        ["queue", "receive", "missing", "--follow"],
        ["queue", "purge", "missing"],
        ["queue", "delete", "missing"],
    ):
        failed = cli(*args, expect=1)
        assert failed.stdout == ""
        (line,) = failed.stderr.splitlines()
        assert line.startswith("batchd: "), line
        assert "queue does not exist" in line, line
        assert "4440" in line, line


def test_rejected_requests_exit_1_with_the_reason(cli: Cli) -> None:
    cli("queue", "create", "dup")
    taken = cli("queue", "create", "DUP", expect=1)
    assert "already exist" in taken.stderr
    bad_name = cli("queue", "create", "9starts-with-a-digit", expect=1)
    assert "batchd:" in bad_name.stderr
    assert "code 4000" in bad_name.stderr
    too_long = cli("queue", "receive", "dup", "--wait", "31", expect=1)
    assert "pollingWaitSeconds" in too_long.stderr


def test_wrong_secret_key_is_an_authentication_error(cli: Cli) -> None:
    cli.env["BATCHD_SECRET_KEY"] = "not-the-key"
    failed = cli("queue", "list", expect=1)
    assert "authentication failed" in failed.stderr
    assert "code 4100" in failed.stderr


def test_unreachable_server_exits_1_with_a_hint(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    env = clean_env({"BATCHD_SECRET_ID": "AKIDx", "BATCHD_SECRET_KEY": "k"})
    for args in (["queue", "list"], ["queue", "receive", "q", "--follow"]):
        failed = run([*args, "--endpoint", endpoint], env, tmp_path)
        assert failed.code == 1, str(failed)
        assert "Traceback" not in failed.stderr
        assert f"cannot reach {endpoint}" in failed.stderr
        assert "batchd serve" in failed.stderr
        assert "--endpoint" in failed.stderr


def test_endpoint_that_is_not_batchd_exits_1(tmp_path: Path) -> None:
    """Another web server at --endpoint is named as the likely mistake."""
    from tests.endpoint import RecordingEndpoint

    env = clean_env({"BATCHD_SECRET_ID": "AKIDx", "BATCHD_SECRET_KEY": "k"})
    with RecordingEndpoint() as other:  # answers 200 with an empty body
        not_json = run(["queue", "list", "--endpoint", other.url], env, tmp_path)
        other.fail_next(1)  # answers 500
        error = run(["queue", "list", "--endpoint", other.url], env, tmp_path)
    for failed, reason in ((not_json, "answered with no JSON"), (error, "HTTP 500")):
        assert failed.code == 1, str(failed)
        assert "Traceback" not in failed.stderr
        assert reason in failed.stderr, str(failed)
        assert "batchd server" in failed.stderr


def test_missing_credentials_exit_2_with_a_hint(tmp_path: Path) -> None:
    data_dir = tmp_path / "empty"
    cases = [
        ({}, ["--data-dir", str(data_dir)], "no credentials found"),
        ({"BATCHD_DATA_DIR": str(data_dir)}, [], str(data_dir / "credentials.json")),
        ({}, [], "batchd serve"),  # default ./.batchd in the working directory
        ({"BATCHD_SECRET_ID": "AKIDonly"}, [], "set both BATCHD_SECRET_ID and BATCHD_SECRET_KEY"),
    ]
    for extra, options, hint in cases:
        failed = run(["queue", "list", *options], clean_env(extra), tmp_path)
        assert failed.code == 2, str(failed)
        assert "Traceback" not in failed.stderr
        assert hint in failed.stderr, str(failed)
        assert failed.stdout == ""


def test_bad_client_settings_exit_2(tmp_path: Path) -> None:
    env = clean_env({"BATCHD_SECRET_ID": "AKIDx", "BATCHD_SECRET_KEY": "k"})
    for extra, options, hint in (
        ({}, ["--endpoint", "127.0.0.1:8910"], "endpoint must look like"),
        ({}, ["--endpoint", "http://127.0.0.1:port"], "endpoint must look like"),
        ({"BATCHD_PORT": "abc"}, [], "BATCHD_PORT"),
        ({"BATCHD_ENDPOINT": "ftp://x"}, [], "endpoint must look like"),
    ):
        failed = run(["queue", "list", *options], {**env, **extra}, tmp_path)
        assert failed.code == 2, str(failed)
        assert "Traceback" not in failed.stderr
        assert hint in failed.stderr, str(failed)
