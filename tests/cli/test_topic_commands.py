"""`batchd topic|subscription|deadletters ...` as a subprocess against the real server."""

from __future__ import annotations

import base64
import json
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import create_engine, update

from batchd.store.tables import deliveries
from tests.cli.conftest import Cli
from tests.endpoint import RecordingEndpoint
from tests.support import RunningServer, wait_until

# Every step is a fresh `batchd` process (about a second each, more on a busy machine).
pytestmark = pytest.mark.timeout(300)


def names(listed: list[dict[str, Any]], key: str) -> list[str]:
    return sorted(item[key] for item in listed)


def drain(cli: Cli, queue: str, expected: int) -> list[str]:
    """Bodies of `expected` messages delivered to `queue` (deliveries are asynchronous)."""
    bodies: list[str] = []
    for _ in range(10):
        got = cli.json("queue", "receive", queue, "-n", "16", "--wait", "5", "--delete")
        bodies += [m["msgBody"] for m in got]
        if len(bodies) >= expected:
            break
    assert len(bodies) == expected, bodies
    return bodies


def test_topic_create_list_show_delete(cli: Cli) -> None:
    created = cli.json("topic", "create", "events")
    assert created["topicName"] == "events"
    assert created["topicId"].startswith("topic-")
    cli.json("topic", "create", "routed", "--filter-type", "2", "--max-msg-size", "4096")

    assert names(cli.json("topic", "list"), "topicName") == ["events", "routed"]
    assert names(cli.json("topic", "list", "--search", "rout"), "topicName") == ["routed"]
    assert "events" in cli("topic", "list").stdout

    shown = cli.json("topic", "show", "events")
    assert shown["topicName"] == "events"
    assert (shown["filterType"], shown["maxMsgSize"], shown["msgCount"]) == (1, 65536, 0)
    assert "code" not in shown
    routed = cli.json("topic", "show", "routed")
    assert (routed["filterType"], routed["maxMsgSize"]) == (2, 4096)
    assert "filterType" in cli("topic", "show", "routed").stdout

    assert "deleted topic routed" in cli("topic", "delete", "routed").stderr
    assert names(cli.json("topic", "list"), "topicName") == ["events"]
    missing = cli("topic", "show", "routed", expect=1)
    assert "topic does not exist" in missing.stderr
    assert "(code 4440)" in missing.stderr
    assert missing.stdout == ""


def test_subscription_create_list_delete(cli: Cli) -> None:
    cli("queue", "create", "inbox")
    cli("topic", "create", "events")
    unsubscribed = cli("topic", "publish", "events", "lost", expect=1)
    assert "no subscription" in unsubscribed.stderr

    sub = cli.json("subscription", "create", "events", "to-inbox", "--to", "inbox")
    assert sub["subscriptionName"] == "to-inbox"
    assert sub["subscriptionId"].startswith("subscription-")
    taken = cli("subscription", "create", "events", "to-inbox", "--to", "inbox", expect=1)
    assert "already exist" in taken.stderr
    (listed,) = cli.json("subscription", "list", "events")
    assert (listed["subscriptionName"], listed["protocol"], listed["endpoint"]) == (
        "to-inbox",
        "queue",
        "inbox",
    )
    assert listed["subscriptionId"] == sub["subscriptionId"]
    assert "to-inbox" in cli("subscription", "list", "events").stdout

    busy = cli("topic", "delete", "events", expect=1)
    assert "subscriptions" in busy.stderr
    removed = cli("subscription", "delete", "events", "to-inbox")
    assert "deleted subscription to-inbox of topic events" in removed.stderr
    assert cli.json("subscription", "list", "events") == []
    cli("topic", "delete", "events")
    gone = cli("subscription", "list", "events", expect=1)
    assert "topic does not exist" in gone.stderr


def test_publish_fans_out_to_queue_subscriptions(cli: Cli) -> None:
    cli("queue", "create", "inbox")
    cli("queue", "create", "audit")
    cli("topic", "create", "events")
    cli("subscription", "create", "events", "to-inbox", "--to", "inbox")
    tag = ["--filter-tag", "audit"]
    cli("subscription", "create", "events", "audit-only", "--to", "audit", *tag)

    (one,) = cli.json("topic", "publish", "events", "one")
    assert one["msgId"].startswith("msg-")
    batch = cli.json("topic", "publish", "events", "two", "three", "--tag", "audit", "--tag", "x")
    assert len(batch) == 2
    assert "msgId" in cli("topic", "publish", "events", "four").stdout

    assert Counter(drain(cli, "inbox", 4)) == Counter(["one", "two", "three", "four"])
    assert Counter(drain(cli, "audit", 2)) == Counter(["two", "three"])


def test_routing_keys_and_bindings(cli: Cli) -> None:
    cli("queue", "create", "done")
    cli("topic", "create", "jobs", "--filter-type", "2")
    cli(
        "subscription", "create", "jobs", "done-only", "--to", "done", "--binding-key", "job.*.done"
    )
    cli("topic", "publish", "jobs", "finished", "--routing-key", "job.7.done")
    unmatched = cli("topic", "publish", "jobs", "failed", "--routing-key", "job.7.failed", expect=1)
    assert "code 6030" in unmatched.stderr
    assert drain(cli, "done", 1) == ["finished"]


def test_http_subscription_dead_letters_and_redrive(cli: Cli, server: RunningServer) -> None:
    event = {"event": "job.succeeded", "jobId": "job-9"}
    body = base64.b64encode(json.dumps(event).encode()).decode()
    with RecordingEndpoint() as hook:
        hook.fail_next(1000)
        cli("topic", "create", "hooks")
        cli(
            "subscription",
            "create",
            "hooks",
            "web",
            "--to",
            hook.url,
            "--strategy",
            "BACKOFF_RETRY",
        )
        (listed,) = cli.json("subscription", "list", "hooks")
        assert (listed["protocol"], listed["endpoint"]) == ("http", hook.url)
        cli("topic", "publish", "hooks", body)

        # BACKOFF_RETRY gives up only after minutes: bury the failed delivery directly.
        engine = create_engine(server.database_url)
        try:

            def buried() -> bool:
                with engine.begin() as conn:
                    changed = conn.execute(
                        update(deliveries).where(deliveries.c.attempts >= 1).values(dead=True)
                    )
                    return changed.rowcount == 1

            wait_until(buried, timeout=30, interval=0.2)
        finally:
            engine.dispose()

        (dead,) = cli.json("deadletters", "list")
        assert (dead["topicName"], dead["subscriptionName"]) == ("hooks", "web")
        assert dead["endpoint"] == hook.url
        assert dead["attempts"] >= 1
        assert dead["lastError"]
        assert dead["msgBody"] == body
        (decoded,) = cli.json("deadletters", "list", "--decode", "--topic", "hooks")
        assert decoded["msgBody"] == event
        assert cli.json("deadletters", "list", "--topic", "other") == []
        table = cli("deadletters", "list").stdout
        assert "web" in table
        assert str(dead["deliveryId"]) in table

        hook.fail_next(0)
        redriven = cli("deadletters", "redrive", str(dead["deliveryId"]))
        assert "redriven 1 deliveries" in redriven.stderr
        wait_until(lambda: len(hook.received) == 1, timeout=30)
    pushed = json.loads(hook.received[0].body)
    assert (pushed["subscriptionName"], pushed["msgBody"]) == ("web", body)
    assert cli.json("deadletters", "list") == []
    assert "redriven 0 deliveries" in cli("deadletters", "redrive").stderr
