"""Queue semantics seen through the SDK: visibility, delay, long polling, counters, rewind,
dead letters (cmq-api.md §2.1)."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cmq.cmq_exception import CMQServerException
from cmq.queue import Message, QueueMeta

from batchd.cli.client import CmqClient, CmqError
from tests.support import CREDENTIAL, CmqAccounts, RunningServer, wait_until


def server_error(call: Callable[[], object]) -> Any:
    """The CMQServerException `call` raises."""
    with pytest.raises(CMQServerException) as caught:
        call()
    return caught.value


def make_queue(account: Any, name: str, **attributes: int) -> Any:
    meta = QueueMeta()
    for key, value in attributes.items():
        setattr(meta, key, value)
    queue = account.get_queue(name)
    queue.create(meta)
    return queue


@pytest.fixture
def client(server: RunningServer) -> Iterator[CmqClient]:
    """batchd's own client, for parameters the SDK cannot send."""
    cmq = CmqClient(server.base_url, CREDENTIAL.secret_id, CREDENTIAL.secret_key)
    yield cmq
    cmq.close()


def counters(queue: Any) -> tuple[int, int, int, int]:
    """(activeMsgNum, inactiveMsgNum, delayMsgNum, rewindmsgNum)."""
    meta = queue.get_attributes()
    return meta.activeMsgNum, meta.inactiveMsgNum, meta.delayMsgNum, meta.rewindmsgNum


# --- visibility timeout ---------------------------------------------------------------------------


def test_visibility_timeout_shows_the_message_again_with_a_new_handle(account: Any) -> None:
    queue = make_queue(account, "visibility", visibilityTimeout=1)
    queue.send_message(Message("retry me"))
    first = queue.receive_message(polling_wait_seconds=0)
    assert first.dequeueCount == 1
    assert server_error(lambda: queue.receive_message(polling_wait_seconds=0)).code == 7000
    assert counters(queue)[:2] == (0, 1)

    # The long poll wakes when the visibility timeout passes.
    started = time.monotonic()
    second = queue.receive_message(polling_wait_seconds=10)
    assert time.monotonic() - started < 5
    assert (second.msgId, second.msgBody, second.dequeueCount) == (first.msgId, "retry me", 2)
    assert second.firstDequeueTime == first.firstDequeueTime
    assert second.enqueueTime == first.enqueueTime
    assert second.receiptHandle != first.receiptHandle

    # The first handle was superseded by the second receive.
    error = server_error(lambda: queue.delete_message(first.receiptHandle))
    assert (error.code, error.message.startswith("(10260)")) == (4430, True)
    queue.delete_message(second.receiptHandle)
    assert counters(queue) == (0, 0, 0, 0)


def test_handle_is_invalid_once_the_visibility_timeout_passed(account: Any) -> None:
    queue = make_queue(account, "expired-handle", visibilityTimeout=1)
    queue.send_message(Message("slow consumer"))
    got = queue.receive_message(polling_wait_seconds=0)
    wait_until(lambda: counters(queue)[0] == 1, timeout=5, interval=0.1)
    assert server_error(lambda: queue.delete_message(got.receiptHandle)).code == 4430
    assert counters(queue)[0] == 1


def test_receive_prefers_the_oldest_enqueued_message(account: Any) -> None:
    """Best-effort FIFO by enqueueTime: a message back from its visibility timeout comes
    before one sent while it was hidden."""
    queue = make_queue(account, "fifo", visibilityTimeout=1)
    queue.send_message(Message("older"))
    first = queue.receive_message(polling_wait_seconds=0)
    time.sleep(0.3)
    queue.send_message(Message("newer"))
    wait_until(lambda: counters(queue)[0] == 2, timeout=5, interval=0.05)
    got = queue.batch_receive_message(2, polling_wait_seconds=0)
    assert [m.msgBody for m in got] == ["older", "newer"]
    assert got[0].msgId == first.msgId


# --- delay --------------------------------------------------------------------------------------


def test_delayed_message_is_counted_then_becomes_visible(account: Any) -> None:
    queue = make_queue(account, "delayed")
    sent = queue.send_message(Message("later"), delayTime=1)
    assert counters(queue) == (0, 0, 1, 0)
    assert server_error(lambda: queue.receive_message(polling_wait_seconds=0)).code == 7000

    started = time.monotonic()
    got = queue.receive_message(polling_wait_seconds=10)
    assert time.monotonic() - started < 5
    assert (got.msgId, got.msgBody, got.dequeueCount) == (sent.msgId, "later", 1)
    assert got.firstDequeueTime >= got.enqueueTime + 1 - 1  # whole seconds on the wire
    assert counters(queue) == (0, 1, 0, 0)


def test_batch_send_delay_applies_to_every_message(account: Any) -> None:
    queue = make_queue(account, "delayed-batch")
    queue.batch_send_message([Message("a"), Message("b")], delayTime=1)
    queue.send_message(Message("now"))
    assert counters(queue) == (1, 0, 2, 0)
    wait_until(lambda: counters(queue) == (3, 0, 0, 0), timeout=5, interval=0.1)


# --- long polling -------------------------------------------------------------------------------


def _send_later(account: Any, queue_name: str, body: str, after: float) -> threading.Thread:
    def send() -> None:
        time.sleep(after)
        account.get_queue(queue_name).send_message(Message(body))

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("batch", [False, True], ids=["receive", "batch-receive"])
def test_long_poll_returns_as_soon_as_a_message_arrives(
    account: Any, server: RunningServer, cmq_accounts: CmqAccounts, batch: bool
) -> None:
    queue = make_queue(account, "long-poll")
    sender = cmq_accounts(server.base_url)  # the SDK's Account is not thread-safe
    thread = _send_later(sender, "long-poll", "wake up", after=0.5)
    started = time.monotonic()
    if batch:
        got = queue.batch_receive_message(4, polling_wait_seconds=10)
        bodies = [m.msgBody for m in got]
    else:
        bodies = [queue.receive_message(polling_wait_seconds=10).msgBody]
    elapsed = time.monotonic() - started
    thread.join(timeout=10)
    assert bodies == ["wake up"]
    assert 0.3 <= elapsed < 5


def test_concurrent_receivers_never_share_a_message(
    account: Any, server: RunningServer, cmq_accounts: CmqAccounts
) -> None:
    queue = make_queue(account, "shared-work")
    bodies = [f"job {i}" for i in range(24)]
    for start in range(0, len(bodies), 8):
        queue.batch_send_message([Message(body) for body in bodies[start : start + 8]])
    consumers = [cmq_accounts(server.base_url) for _ in range(4)]
    taken: list[list[str]] = [[] for _ in consumers]

    def consume(index: int) -> None:
        mine = consumers[index].get_queue("shared-work")
        while True:
            try:
                got = mine.batch_receive_message(3, polling_wait_seconds=0)
            except CMQServerException:
                return
            taken[index] += [m.msgBody for m in got]

    threads = [threading.Thread(target=consume, args=(i,), daemon=True) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    received = [body for share in taken for body in share]
    assert sorted(received) == sorted(bodies)
    assert counters(queue)[:2] == (0, 24)


def test_long_poll_ends_with_7000_when_nothing_arrives(account: Any) -> None:
    queue = make_queue(account, "long-poll-empty")
    started = time.monotonic()
    error = server_error(lambda: queue.receive_message(polling_wait_seconds=1))
    elapsed = time.monotonic() - started
    assert error.code == 7000
    assert 0.8 <= elapsed < 8


def test_long_poll_on_one_queue_is_not_woken_by_another(
    account: Any, server: RunningServer, cmq_accounts: CmqAccounts
) -> None:
    queue = make_queue(account, "quiet")
    make_queue(account, "busy")
    thread = _send_later(cmq_accounts(server.base_url), "busy", "not for you", after=0.2)
    error = server_error(lambda: queue.receive_message(polling_wait_seconds=1))
    thread.join(timeout=10)
    assert error.code == 7000
    assert counters(account.get_queue("busy"))[0] == 1


# --- counters -----------------------------------------------------------------------------------


def test_counters_follow_every_state(account: Any) -> None:
    queue = make_queue(account, "counted", visibilityTimeout=30, rewindSeconds=600)
    before = int(time.time())
    queue.batch_send_message([Message("a"), Message("b"), Message("c")])
    queue.send_message(Message("d"), delayTime=60)
    meta = queue.get_attributes()
    assert (meta.activeMsgNum, meta.inactiveMsgNum, meta.delayMsgNum, meta.rewindmsgNum) == (
        3,
        0,
        1,
        0,
    )
    assert before - 1 <= meta.minMsgTime <= int(time.time())

    got = queue.batch_receive_message(2, polling_wait_seconds=0)
    assert counters(queue) == (1, 2, 1, 0)
    queue.delete_message(got[0].receiptHandle)
    assert counters(queue) == (1, 1, 1, 1)
    queue.delete_message(got[1].receiptHandle)
    assert counters(queue) == (1, 0, 1, 2)
    assert queue.get_attributes().minMsgTime >= before - 1

    last = queue.receive_message(polling_wait_seconds=0)
    queue.delete_message(last.receiptHandle)
    assert counters(queue) == (0, 0, 1, 3)
    # Only the delayed message is left unconsumed.
    assert queue.get_attributes().minMsgTime >= before - 1


def test_min_msg_time_is_zero_when_nothing_is_unconsumed(account: Any) -> None:
    queue = make_queue(account, "min-time")
    assert queue.get_attributes().minMsgTime == 0
    queue.send_message(Message("x"))
    meta = queue.get_attributes()
    assert abs(meta.minMsgTime - time.time()) < 5
    got = queue.receive_message(polling_wait_seconds=0)
    assert queue.get_attributes().minMsgTime == meta.minMsgTime
    queue.delete_message(got.receiptHandle)
    assert queue.get_attributes().minMsgTime == 0


# --- rewind -------------------------------------------------------------------------------------


def test_rewind_brings_deleted_messages_back_in_production_order(account: Any) -> None:
    queue = make_queue(account, "rewound", rewindSeconds=600)
    bodies = ["first", "second", "third"]
    for body in bodies:
        queue.send_message(Message(body))
    got = queue.batch_receive_message(3, polling_wait_seconds=0)
    queue.batch_delete_message([m.receiptHandle for m in got])
    assert counters(queue) == (0, 0, 0, 3)
    assert queue.get_attributes().minMsgTime == 0

    queue.rewindQueue(int(time.time()) - 60)
    assert counters(queue) == (3, 0, 0, 0)
    again = queue.batch_receive_message(16, polling_wait_seconds=1)
    assert [m.msgBody for m in again] == bodies
    assert [m.msgId for m in again] == [m.msgId for m in got]
    # Counters are kept: this is each message's second receive; the old handles stay dead.
    assert [m.dequeueCount for m in again] == [2, 2, 2]
    assert server_error(lambda: queue.delete_message(got[0].receiptHandle)).code == 4430
    queue.batch_delete_message([m.receiptHandle for m in again])
    assert counters(queue) == (0, 0, 0, 3)


def test_rewind_only_restores_messages_enqueued_since_the_start_time(account: Any) -> None:
    queue = make_queue(account, "rewind-window", rewindSeconds=600)
    queue.send_message(Message("before"))
    old = queue.receive_message(polling_wait_seconds=0)
    queue.delete_message(old.receiptHandle)
    time.sleep(1.1)
    queue.send_message(Message("after"))
    new = queue.receive_message(polling_wait_seconds=0)
    queue.delete_message(new.receiptHandle)
    assert new.enqueueTime > old.enqueueTime

    queue.rewindQueue(new.enqueueTime)
    assert counters(queue) == (1, 0, 0, 1)
    assert queue.receive_message(polling_wait_seconds=0).msgBody == "after"


def test_rewind_wakes_a_long_poll(
    account: Any, server: RunningServer, cmq_accounts: CmqAccounts
) -> None:
    queue = make_queue(account, "rewind-wake", rewindSeconds=600)
    queue.send_message(Message("replay"))
    queue.delete_message(queue.receive_message(polling_wait_seconds=0).receiptHandle)
    rewinder = cmq_accounts(server.base_url)
    start = int(time.time()) - 10

    def rewind() -> None:
        time.sleep(0.5)
        rewinder.get_queue("rewind-wake").rewindQueue(start)

    thread = threading.Thread(target=rewind, daemon=True)
    thread.start()
    started = time.monotonic()
    got = queue.receive_message(polling_wait_seconds=10)
    thread.join(timeout=10)
    assert got.msgBody == "replay"
    assert time.monotonic() - started < 5


def test_rewindable_messages_expire_with_the_rewind_window(account: Any) -> None:
    """A deleted message stays rewindable until enqueueTime + rewindSeconds, no longer."""
    queue = make_queue(account, "short-window", rewindSeconds=1)
    queue.send_message(Message("fleeting"))
    queue.delete_message(queue.receive_message(polling_wait_seconds=0).receiptHandle)
    wait_until(lambda: counters(queue) == (0, 0, 0, 0), timeout=5, interval=0.1)
    queue.rewindQueue(int(time.time()) - 1)
    assert server_error(lambda: queue.receive_message(polling_wait_seconds=0)).code == 7000


def test_rewind_refusals(account: Any) -> None:
    plain = make_queue(account, "no-rewind")
    error = server_error(lambda: plain.rewindQueue(int(time.time())))
    assert (error.code, error.message.startswith("(10670)")) == (6050, True)

    queue = make_queue(account, "short-rewind", rewindSeconds=60)
    for start in (int(time.time()) - 3600, int(time.time()) + 3600):
        error = server_error(functools.partial(queue.rewindQueue, start))
        assert (error.code, error.message.startswith("(10680)")) == (4000, True)


def test_lowering_rewind_seconds_to_zero_drops_rewindable_messages(account: Any) -> None:
    queue = make_queue(account, "rewind-off", rewindSeconds=600)
    queue.send_message(Message("gone"))
    queue.delete_message(queue.receive_message(polling_wait_seconds=0).receiptHandle)
    assert counters(queue)[3] == 1
    meta = queue.get_attributes()
    meta.rewindSeconds = 0
    queue.set_attributes(meta)
    assert counters(queue) == (0, 0, 0, 0)
    assert server_error(lambda: queue.rewindQueue(int(time.time()))).code == 6050
    meta.rewindSeconds = 600
    queue.set_attributes(meta)
    queue.rewindQueue(int(time.time()) - 60)
    assert counters(queue) == (0, 0, 0, 0)


# --- dead letter --------------------------------------------------------------------------------


def test_dead_letter_by_receive_count(account: Any, client: CmqClient) -> None:
    dead = make_queue(account, "graveyard")
    client.call(
        "CreateQueue",
        {
            "queueName": "poison",
            "visibilityTimeout": 1,
            "deadLetterQueueName": "graveyard",
            "policy": 0,
            "maxReceiveCount": 2,
        },
    )
    attributes = client.call("GetQueueAttributes", {"queueName": "poison"})
    assert attributes["deadLetterPolicy"] == {
        "deadLetterQueue": "graveyard",
        "policy": 0,
        "maxReceiveCount": 2,
        "maxTimeToLive": 0,
    }
    queue = account.get_queue("poison")
    sent = queue.send_message(Message("cannot be processed"))
    assert queue.receive_message(polling_wait_seconds=0).dequeueCount == 1
    assert queue.receive_message(polling_wait_seconds=5).dequeueCount == 2
    # Received maxReceiveCount times: the next time it would show, it moves aside instead.
    error = server_error(lambda: queue.receive_message(polling_wait_seconds=2))
    assert error.code == 7000
    assert counters(queue) == (0, 0, 0, 0)
    got = dead.receive_message(polling_wait_seconds=1)
    assert (got.msgBody, got.dequeueCount) == ("cannot be processed", 1)
    assert got.msgId == sent.msgId
    dead.delete_message(got.receiptHandle)
    assert counters(dead) == (0, 0, 0, 0)


def test_dead_letter_move_wakes_a_long_poll_on_the_dead_letter_queue(
    account: Any, server: RunningServer, cmq_accounts: CmqAccounts, client: CmqClient
) -> None:
    dead = make_queue(account, "dead-wake")
    client.call(
        "CreateQueue",
        {
            "queueName": "poison-wake",
            "visibilityTimeout": 1,
            "deadLetterQueueName": "dead-wake",
            "policy": 0,
            "maxReceiveCount": 1,
        },
    )
    source = account.get_queue("poison-wake")
    source.send_message(Message("once only"))
    source.receive_message(polling_wait_seconds=0)
    consumer = cmq_accounts(server.base_url)

    def receive_again() -> None:
        # Shows again after 1 s: received once already, so it moves to the dead-letter queue.
        with pytest.raises(CMQServerException):
            consumer.get_queue("poison-wake").receive_message(polling_wait_seconds=2)

    thread = threading.Thread(target=receive_again, daemon=True)
    thread.start()
    started = time.monotonic()
    got = dead.receive_message(polling_wait_seconds=10)
    elapsed = time.monotonic() - started
    thread.join(timeout=10)
    assert got.msgBody == "once only"
    assert elapsed < 5


def test_dead_letter_policy_can_be_set_and_validated(account: Any, client: CmqClient) -> None:
    make_queue(account, "dlq")
    make_queue(account, "source")
    client.call(
        "SetQueueAttributes",
        {"queueName": "source", "deadLetterQueueName": "dlq", "policy": 1, "maxTimeToLive": 300},
    )
    policy = client.call("GetQueueAttributes", {"queueName": "source"})["deadLetterPolicy"]
    assert (policy["policy"], policy["maxTimeToLive"]) == (1, 300)
    for bad in (
        {"policy": 0, "maxReceiveCount": 0},
        {"policy": 0, "maxReceiveCount": 1001},
        {"policy": 1, "maxTimeToLive": 100},
        {"policy": 2, "maxReceiveCount": 3},
    ):
        with pytest.raises(CmqError) as caught:
            client.call(
                "SetQueueAttributes", {"queueName": "source", "deadLetterQueueName": "dlq", **bad}
            )
        assert caught.value.code == 4000
    # An empty dead-letter queue name removes the policy.
    client.call("SetQueueAttributes", {"queueName": "source", "deadLetterQueueName": ""})
    assert "deadLetterPolicy" not in client.call("GetQueueAttributes", {"queueName": "source"})
