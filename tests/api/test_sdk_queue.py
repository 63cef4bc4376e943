"""SDK conformance: every queue call of `qcloud-cmq-sdk-py3` against the real server (§2.1, §4)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import pytest
from cmq.cmq_exception import CMQServerException
from cmq.queue import Message, QueueMeta

from tests.support import CREDENTIAL, CmqAccounts, RunningServer


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


# --- lifecycle and attributes -----------------------------------------------------------------


def test_create_with_defaults_and_get_attributes(account: Any) -> None:
    before = int(time.time())
    queue = make_queue(account, "orders")
    meta = queue.get_attributes()
    assert meta.queueName == "orders"
    assert meta.maxMsgHeapNum == 10_000_000
    assert meta.pollingWaitSeconds == 0
    assert meta.visibilityTimeout == 30
    assert meta.maxMsgSize == 65_536
    assert meta.msgRetentionSeconds == 345_600
    assert meta.rewindSeconds == 0
    assert before - 1 <= meta.createTime <= int(time.time()) + 1
    assert meta.lastModifyTime >= meta.createTime
    assert (meta.activeMsgNum, meta.inactiveMsgNum, meta.delayMsgNum) == (0, 0, 0)
    assert (meta.rewindmsgNum, meta.minMsgTime) == (0, 0)


def test_create_with_attributes_then_set_attributes(account: Any) -> None:
    queue = make_queue(
        account,
        "tuned",
        maxMsgHeapNum=1000,
        pollingWaitSeconds=2,
        visibilityTimeout=5,
        maxMsgSize=2048,
        msgRetentionSeconds=3600,
        rewindSeconds=600,
    )
    meta = queue.get_attributes()
    assert (meta.maxMsgHeapNum, meta.pollingWaitSeconds, meta.visibilityTimeout) == (1000, 2, 5)
    assert (meta.maxMsgSize, meta.msgRetentionSeconds, meta.rewindSeconds) == (2048, 3600, 600)

    meta.visibilityTimeout = 7
    meta.maxMsgSize = 4096
    meta.pollingWaitSeconds = 0
    meta.rewindSeconds = 0
    queue.set_attributes(meta)
    changed = queue.get_attributes()
    assert (changed.visibilityTimeout, changed.maxMsgSize, changed.pollingWaitSeconds) == (
        7,
        4096,
        0,
    )
    assert changed.rewindSeconds == 0
    assert changed.maxMsgHeapNum == 1000
    assert changed.createTime == meta.createTime
    assert changed.lastModifyTime >= changed.createTime


def test_attribute_values_out_of_range_are_refused(account: Any) -> None:
    queue = make_queue(account, "ranges")
    meta = queue.get_attributes()
    meta.visibilityTimeout = 0
    error = server_error(lambda: queue.set_attributes(meta))
    assert error.code == 4000
    assert "visibilityTimeout" in error.message
    meta = queue.get_attributes()
    meta.rewindSeconds = meta.msgRetentionSeconds + 1
    error = server_error(lambda: queue.set_attributes(meta))
    assert (error.code, "(10700)" in error.message) == (4000, True)
    assert queue.get_attributes().visibilityTimeout == 30


def test_queue_names_are_unique_ignoring_case(account: Any) -> None:
    make_queue(account, "Dup")
    error = server_error(lambda: make_queue(account, "dup"))
    assert error.code == 4000
    assert "4460" in error.message
    assert error.request_id


def test_invalid_queue_name_is_refused(account: Any) -> None:
    error = server_error(lambda: make_queue(account, "1-starts-with-digit"))
    assert (error.code, error.message.startswith("(10020)")) == (4000, True)


def test_delete_queue(account: Any) -> None:
    queue = make_queue(account, "doomed")
    queue.send_message(Message("left behind"))
    queue.delete()
    error = server_error(queue.get_attributes)
    assert (error.code, error.message.startswith("(10100)")) == (4440, True)
    assert server_error(queue.delete).code == 4440
    assert server_error(lambda: queue.send_message(Message("x"))).code == 4440
    # The name is free again, and the new queue starts empty.
    queue.create(QueueMeta())
    assert queue.get_attributes().activeMsgNum == 0


def test_missing_queue_answers_4440_everywhere(account: Any) -> None:
    queue = account.get_queue("ghost")
    for call in (
        queue.get_attributes,
        queue.delete,
        lambda: queue.set_attributes(QueueMeta()),
        lambda: queue.receive_message(polling_wait_seconds=0),
        lambda: queue.batch_receive_message(2, polling_wait_seconds=0),
        lambda: queue.delete_message("1-abc"),
        lambda: queue.rewindQueue(int(time.time())),
    ):
        assert server_error(call).code == 4440


# --- ListQueue ---------------------------------------------------------------------------------


def test_list_queue_search_offset_limit(account: Any) -> None:
    for name in ("alpha-1", "alpha-2", "alpha-3", "beta-1", "beta-2"):
        make_queue(account, name)

    total, queues, next_offset = account.list_queue()
    assert total == 5
    assert [q["queueName"] for q in queues] == ["alpha-1", "alpha-2", "alpha-3", "beta-1", "beta-2"]
    assert all(q["queueId"] for q in queues)
    assert len({q["queueId"] for q in queues}) == 5
    assert next_offset == ""

    total, queues, next_offset = account.list_queue(searchWord="alpha")
    assert (total, [q["queueName"] for q in queues]) == (3, ["alpha-1", "alpha-2", "alpha-3"])
    total, queues, _ = account.list_queue(searchWord="ta-")
    assert (total, [q["queueName"] for q in queues]) == (2, ["beta-1", "beta-2"])
    assert account.list_queue(searchWord="nothing")[:2] == (0, [])

    total, queues, next_offset = account.list_queue(limit=2, offset=3)
    assert (total, [q["queueName"] for q in queues], next_offset) == (5, ["beta-1", "beta-2"], "")
    total, queues, next_offset = account.list_queue(limit=2, offset=10)
    assert (total, queues) == (5, [])


def test_list_queue_pages_with_the_sdk_next_offset(account: Any) -> None:
    names = [f"page-{i:02d}" for i in range(7)]
    for name in names:
        make_queue(account, name)
    seen: list[str] = []
    total, queues, next_offset = account.list_queue(limit=3)
    seen += [q["queueName"] for q in queues]
    pages = 1
    while next_offset != "":
        total, queues, next_offset = account.list_queue(limit=3, offset=next_offset)
        seen += [q["queueName"] for q in queues]
        pages += 1
    assert (total, pages, seen) == (7, 3, names)


def test_list_queue_limit_above_the_maximum_is_refused(account: Any) -> None:
    assert server_error(lambda: account.list_queue(limit=51)).code == 4000
    assert server_error(lambda: account.list_queue(offset=-1)).code == 4000


# --- messages ------------------------------------------------------------------------------------


def test_send_receive_delete_message_fields(account: Any) -> None:
    queue = make_queue(account, "fields", visibilityTimeout=20)
    before = int(time.time())
    sent = queue.send_message(Message("hello world"))
    assert sent.msgId
    got = queue.receive_message(polling_wait_seconds=1)
    after = int(time.time())
    assert (got.msgBody, got.msgId, got.dequeueCount) == ("hello world", sent.msgId, 1)
    assert got.receiptHandle
    assert before - 1 <= got.enqueueTime <= after
    assert got.enqueueTime <= got.firstDequeueTime <= after
    assert got.nextVisibleTime - got.firstDequeueTime in (19, 20, 21)
    queue.delete_message(got.receiptHandle)
    assert queue.get_attributes().activeMsgNum == 0
    # Deleting again with the same (now stale) handle is refused.
    error = server_error(lambda: queue.delete_message(got.receiptHandle))
    assert (error.code, error.message.startswith("(10260)")) == (4430, True)


BODIES = [
    "@looks-like-a-php-upload",  # POST signatures skip values starting with '@' (§1.3)
    "a&b=c+d %2F e?f#g",
    "unicode: 中文 ü ☃",
    "line one\nline two\ttab",
    "x" * 65_536,
]


def test_bodies_round_trip_unchanged(account: Any) -> None:
    queue = make_queue(account, "bodies")
    for body in BODIES:
        queue.send_message(Message(body))
    got = queue.batch_receive_message(16, polling_wait_seconds=1)
    assert [m.msgBody for m in got] == BODIES


def test_message_size_limits(account: Any) -> None:
    queue = make_queue(account, "small", maxMsgSize=1024)
    queue.send_message(Message("x" * 1024))
    error = server_error(lambda: queue.send_message(Message("x" * 1025)))
    assert (error.code, error.message.startswith("(10230)")) == (4400, True)
    error = server_error(lambda: queue.send_message(Message("")))
    assert error.code == 4000
    assert error.message.startswith("(10120)") or "msgBody" in error.message
    error = server_error(lambda: queue.send_message(Message("x"), delayTime=3601))
    assert (error.code, error.message.startswith("(10692)")) == (4000, True)
    assert queue.get_attributes().activeMsgNum == 1


def test_queue_full_answers_4410(account: Any) -> None:
    queue = make_queue(account, "tiny", maxMsgHeapNum=2)
    queue.batch_send_message([Message("1"), Message("2")])
    error = server_error(lambda: queue.send_message(Message("3")))
    assert (error.code, error.message.startswith("(10240)")) == (4410, True)
    got = queue.receive_message(polling_wait_seconds=0)
    queue.delete_message(got.receiptHandle)
    queue.send_message(Message("3"))


def test_batch_send_receive_delete(account: Any) -> None:
    queue = make_queue(account, "batch")
    bodies = [f"message {i}" for i in range(5)]
    sent = queue.batch_send_message([Message(body) for body in bodies])
    assert len(sent) == 5
    assert len({m.msgId for m in sent}) == 5
    assert queue.get_attributes().activeMsgNum == 5

    got = queue.batch_receive_message(16, polling_wait_seconds=1)
    assert [m.msgBody for m in got] == bodies
    assert [m.msgId for m in got] == [m.msgId for m in sent]
    assert all(m.dequeueCount == 1 and m.receiptHandle for m in got)
    meta = queue.get_attributes()
    assert (meta.activeMsgNum, meta.inactiveMsgNum) == (0, 5)

    queue.batch_delete_message([m.receiptHandle for m in got])
    meta = queue.get_attributes()
    assert (meta.activeMsgNum, meta.inactiveMsgNum) == (0, 0)


def test_batch_receive_takes_at_most_num_of_msg(account: Any) -> None:
    queue = make_queue(account, "partial")
    queue.batch_send_message([Message(str(i)) for i in range(5)])
    first = queue.batch_receive_message(3, polling_wait_seconds=0)
    second = queue.batch_receive_message(3, polling_wait_seconds=0)
    assert [m.msgBody for m in first] == ["0", "1", "2"]
    assert [m.msgBody for m in second] == ["3", "4"]


def test_batch_limits(account: Any) -> None:
    queue = make_queue(account, "limits")
    error = server_error(lambda: queue.batch_send_message([Message(str(i)) for i in range(17)]))
    assert (error.code, error.message.startswith("(10370)")) == (4000, True)
    error = server_error(lambda: queue.batch_receive_message(17, polling_wait_seconds=0))
    assert (error.code, error.message.startswith("(10370)")) == (4000, True)
    assert server_error(lambda: queue.batch_receive_message(0, polling_wait_seconds=0)).code == (
        4000
    )
    error = server_error(lambda: queue.batch_delete_message([f"1-{i}" for i in range(17)]))
    assert (error.code, error.message.startswith("(10370)")) == (4000, True)
    assert queue.get_attributes().activeMsgNum == 0


def test_batch_delete_partial_failure_answers_6010(account: Any) -> None:
    queue = make_queue(account, "partial-delete")
    queue.batch_send_message([Message("a"), Message("b")])
    got = queue.batch_receive_message(2, polling_wait_seconds=0)
    good = got[0].receiptHandle
    error = server_error(
        lambda: queue.batch_delete_message([good, "999999-bogus", got[1].receiptHandle])
    )
    assert (error.code, error.message.startswith("(10150)")) == (6010, True)
    failures = error.data["errorList"]
    assert [f["receiptHandle"] for f in failures] == ["999999-bogus"]
    assert failures[0]["code"] == 4430
    # The valid handles were deleted all the same.
    meta = queue.get_attributes()
    assert (meta.activeMsgNum, meta.inactiveMsgNum) == (0, 0)


def test_empty_receive_answers_7000(account: Any) -> None:
    queue = make_queue(account, "empty")
    error = server_error(lambda: queue.receive_message(polling_wait_seconds=0))
    assert error.code == 7000
    assert error.message.startswith("(10200)")
    assert error.request_id
    error = server_error(lambda: queue.batch_receive_message(4, polling_wait_seconds=0))
    assert (error.code, error.message.startswith("(10200)")) == (7000, True)


def test_delete_message_with_bad_handles(account: Any) -> None:
    queue = make_queue(account, "handles")
    queue.send_message(Message("m"))
    got = queue.receive_message(polling_wait_seconds=0)
    for handle in ("garbage", "12345-abc", got.receiptHandle + "x"):
        assert server_error(functools.partial(queue.delete_message, handle)).code == 4430
    # A handle of another queue is not valid here.
    other = make_queue(account, "other")
    assert server_error(lambda: other.delete_message(got.receiptHandle)).code == 4430
    queue.delete_message(got.receiptHandle)


def test_receive_with_queue_default_polling_wait(account: Any) -> None:
    """Without its own wait the SDK sends no pollingWaitSeconds: the queue's attribute applies."""
    queue = make_queue(account, "default-wait", pollingWaitSeconds=1)
    started = time.monotonic()
    error = server_error(queue.receive_message)
    elapsed = time.monotonic() - started
    assert error.code == 7000
    assert 0.8 <= elapsed < 8


def test_polling_wait_out_of_range_is_refused(account: Any) -> None:
    queue = make_queue(account, "wait-range")
    assert server_error(lambda: queue.receive_message(polling_wait_seconds=31)).code == 4000
    assert server_error(lambda: queue.receive_message(polling_wait_seconds=-1)).code == 4000


def test_rewind_queue_through_the_sdk(account: Any) -> None:
    queue = make_queue(account, "rewind-sdk", rewindSeconds=60)
    queue.send_message(Message("again"))
    got = queue.receive_message(polling_wait_seconds=0)
    queue.delete_message(got.receiptHandle)
    queue.rewindQueue(int(time.time()) - 30)
    again = queue.receive_message(polling_wait_seconds=1)
    assert (again.msgId, again.msgBody) == (got.msgId, "again")


# --- the GET method ---------------------------------------------------------------------------


@pytest.mark.parametrize("sign", ["sha1", "sha256"])
def test_get_method_queue_round_trip(
    server: RunningServer, cmq_accounts: CmqAccounts, sign: str
) -> None:
    account = cmq_accounts(server.base_url, CREDENTIAL, sign=sign, method="GET")
    assert account.get_client().method == "GET"
    queue = make_queue(account, "via-get", visibilityTimeout=10)
    sent = queue.send_message(Message("@at and & amp = 中文"))
    got = queue.receive_message(polling_wait_seconds=1)
    assert (got.msgId, got.msgBody) == (sent.msgId, "@at and & amp = 中文")
    queue.delete_message(got.receiptHandle)
    queue.batch_send_message([Message("one"), Message("two")])
    batch = queue.batch_receive_message(2, polling_wait_seconds=1)
    queue.batch_delete_message([m.receiptHandle for m in batch])
    assert sorted(m.msgBody for m in batch) == ["one", "two"]
    assert server_error(lambda: queue.receive_message(polling_wait_seconds=0)).code == 7000
    total, queues, _ = account.list_queue(searchWord="via")
    assert (total, [q["queueName"] for q in queues]) == (1, ["via-get"])
    queue.delete()
