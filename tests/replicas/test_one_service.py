"""Two `batchd serve` replicas on one PostgreSQL database are one service: both answer, exactly one
leads, and what happens through one wakes the other (long polls, the controller, the keyring)."""

from __future__ import annotations

import base64
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from batchd.cli.batch_client import BatchApiError, BatchClient
from batchd.cli.client import CmqClient, CmqError
from tests.batch.conftest import BatchApi, command_task
from tests.endpoint import RecordingEndpoint
from tests.support import CREDENTIAL, ServerProcess, wait_until

pytestmark = pytest.mark.timeout(240)  # two fresh server processes: slow on a busy machine

REGION = "ap-guangzhou"


@pytest.fixture
def replicas(tmp_path: Path, replica_database_url: str) -> Iterator[tuple[ServerProcess, ...]]:
    """(leader, follower): the first started leads, the second joins it."""
    first = ServerProcess(tmp_path / "first", replica_database_url)
    second = ServerProcess(tmp_path / "second", replica_database_url)
    with first.serving(), second.serving():
        yield first, second


def health(server: ServerProcess) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{server.base_url}/healthz", timeout=10).json()
    return answer


def cmq(server: ServerProcess, action: str, params: dict[str, Any]) -> dict[str, Any]:
    client = CmqClient(server.base_url, CREDENTIAL.secret_id, CREDENTIAL.secret_key)
    try:
        return client.call(action, params)
    finally:
        client.close()


def batch(server: ServerProcess, action: str, params: dict[str, Any], key: Any = None) -> Any:
    secret_id, secret_key = key or (CREDENTIAL.secret_id, CREDENTIAL.secret_key)
    client = BatchClient(server.base_url, secret_id, secret_key, REGION)
    try:
        return client.call(action, params)
    finally:
        client.close()


def test_both_answer_and_exactly_one_leads(replicas: tuple[ServerProcess, ...]) -> None:
    leader, follower = replicas

    first, second = health(leader), health(follower)

    assert (first["role"], second["role"]) == ("leader", "follower")
    assert first["leader"] == second["leader"] == leader.base_url
    assert first["epoch"] == second["epoch"]
    assert first["replica"] != second["replica"]
    metrics = httpx.get(f"{follower.base_url}/metrics", timeout=10).text
    assert f'batchd_leader{{replica="{second["replica"]}"}} 0' in metrics


def test_a_long_poll_on_one_replica_wakes_for_a_send_through_the_other(
    replicas: tuple[ServerProcess, ...],
) -> None:
    leader, follower = replicas
    cmq(leader, "CreateQueue", {"queueName": "across"})
    received: dict[str, Any] = {}
    polling = threading.Event()

    def receive() -> None:
        polling.set()
        # A wait far longer than the test: the message can only arrive by a wake-up.
        received.update(
            cmq(follower, "ReceiveMessage", {"queueName": "across", "pollingWaitSeconds": 30})
        )

    waiter = threading.Thread(target=receive)
    waiter.start()
    polling.wait()
    time.sleep(1.0)  # the long poll is waiting by now (were it not, the test would prove less)
    cmq(leader, "SendMessage", {"queueName": "across", "msgBody": "from the leader"})
    waiter.join(timeout=25)

    assert not waiter.is_alive(), "the long poll did not wake for the other replica's send"
    assert received["msgBody"] == "from the leader"


def test_a_job_submitted_to_the_follower_runs_on_the_leader_and_ends_succeed(
    replicas: tuple[ServerProcess, ...],
) -> None:
    leader, follower = replicas
    on_follower = BatchApi(follower.running())
    env_id = on_follower.env(nodes=1)

    job_id = on_follower.submit([command_task("hello", env_id, "echo from-a-replica")])

    assert on_follower.finished(job_id)["JobState"] == "SUCCEED"
    logs = on_follower("DescribeTaskLogs", {"JobId": job_id, "TaskName": "hello"})
    stdout = logs["TaskInstanceLogSet"][0]["StdoutLog"].partition("base64,")[2]
    assert base64.b64decode(stdout) == b"from-a-replica\n"
    # Where external workers attach is the leader's to know: the follower answers it alike.
    described = {
        name: batch(server, "DescribeComputeEnv", {"EnvId": env_id})
        for name, server in (("leader", leader), ("follower", follower))
    }
    assert described["leader"]["SchedulerAddress"].startswith("tcp://127.0.0.1:")
    assert described["follower"]["SchedulerAddress"] == described["leader"]["SchedulerAddress"]


def test_a_key_made_on_one_replica_works_on_the_other_until_disabled_there(
    replicas: tuple[ServerProcess, ...],
) -> None:
    leader, follower = replicas
    made = batch(leader, "CreateAccount", {"AccountName": "team-a"})
    key = (made["SecretId"], made["SecretKey"])

    wait_until(lambda: _answers(follower, key), timeout=5, interval=0.02)
    batch(follower, "DisableApiKey", {"SecretId": key[0]})

    wait_until(lambda: not _answers(leader, key), timeout=5, interval=0.02)
    with pytest.raises(BatchApiError) as refused:
        batch(leader, "DescribeJobs", {}, key)
    assert refused.value.code.startswith("AuthFailure")


def _answers(server: ServerProcess, key: tuple[str, str]) -> bool:
    try:
        batch(server, "DescribeJobs", {}, key)
    except BatchApiError:
        return False
    return True


def test_receivers_on_both_replicas_never_take_the_same_message(
    replicas: tuple[ServerProcess, ...],
) -> None:
    leader = replicas[0]
    cmq(leader, "CreateQueue", {"queueName": "shared", "visibilityTimeout": 300})
    for batch_number in range(12):
        bodies = {f"msgBody.{j}": f"m{batch_number}-{j}" for j in range(1, 17)}
        cmq(leader, "BatchSendMessage", {"queueName": "shared", **bodies})
    taken: list[str] = []

    def take(server: ServerProcess) -> None:
        client = CmqClient(server.base_url, CREDENTIAL.secret_id, CREDENTIAL.secret_key)
        try:
            while True:
                try:
                    got = client.call(
                        "BatchReceiveMessage",
                        {"queueName": "shared", "numOfMsg": 16, "pollingWaitSeconds": 0},
                    )
                except CmqError as error:
                    if error.code != 7000:  # anything but "no message left"
                        raise
                    return
                taken.extend(message["msgId"] for message in got["msgInfoList"])
        finally:
            client.close()

    receivers = [threading.Thread(target=take, args=(server,)) for server in replicas * 2]
    for receiver in receivers:
        receiver.start()
    for receiver in receivers:
        receiver.join(timeout=60)

    assert len(taken) == len(set(taken)) == 12 * 16


def test_a_frozen_leader_is_replaced_within_15_s_and_stands_down_when_it_wakes(
    replicas: tuple[ServerProcess, ...],
) -> None:
    leader, follower = replicas
    assert leader.process is not None
    epoch = health(leader)["epoch"]

    leader.process.send_signal(signal.SIGSTOP)  # alive, connected, and silent
    try:
        stopped = time.monotonic()
        wait_until(lambda: health(follower)["role"] == "leader", timeout=20, interval=0.1)
        took = time.monotonic() - stopped
    finally:
        leader.process.send_signal(signal.SIGCONT)

    assert took < 15, f"a frozen leader was replaced only after {took:.1f} s"
    assert health(follower)["epoch"] > epoch
    wait_until(lambda: health(leader)["role"] == "follower", timeout=10, interval=0.1)
    assert health(leader)["leader"] == follower.base_url


def test_a_leader_whose_database_session_ends_is_replaced_and_stands_down(
    replicas: tuple[ServerProcess, ...], replica_database_url: str
) -> None:
    leader, follower = replicas
    engine = create_engine(replica_database_url)
    try:
        with engine.begin() as conn:  # what a network cut or a PostgreSQL restart does to it
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(session) FROM leader_lease WHERE id = 1 "
                    "AND holder = :replica"
                ),
                {"replica": health(leader)["replica"]},
            )
    finally:
        engine.dispose()

    wait_until(lambda: health(follower)["role"] == "leader", timeout=15, interval=0.1)
    wait_until(lambda: health(leader)["role"] == "follower", timeout=10, interval=0.1)


def test_pushes_of_messages_published_through_either_replica_are_made_once_by_the_leader(
    replicas: tuple[ServerProcess, ...],
) -> None:
    leader, follower = replicas
    with RecordingEndpoint() as endpoint:
        cmq(leader, "CreateTopic", {"topicName": "hooked"})
        subscription = {"protocol": "http", "endpoint": endpoint.url}
        cmq(
            leader, "Subscribe", {"topicName": "hooked", "subscriptionName": "hook", **subscription}
        )
        sent = [
            cmq(server, "PublishMessage", {"topicName": "hooked", "msgBody": f"m{n}"})["msgId"]
            for n in range(10)
            for server in replicas
        ]
        wait_until(lambda: len(endpoint.received) >= len(sent), timeout=30)
        time.sleep(1.0)  # room for a second push of any of them, were there one

    pushed = [json.loads(request.body)["msgId"] for request in endpoint.received]
    assert sorted(pushed) == sorted(sent)
    assert _pushes_delivered(follower) == 0  # only the leader delivers
    assert _pushes_delivered(leader) == len(sent)


def _pushes_delivered(server: ServerProcess) -> float:
    metrics = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith('batchd_push_deliveries_total{outcome="delivered"}')
    )
    return float(line.rpartition(" ")[2])
