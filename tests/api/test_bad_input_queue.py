"""Bad input to every queue action: the exact CMQ code and module, and nothing written.

cmq-api.md §1.5 (error codes), §1.6 (names and limits), §2.1 (queue actions).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.raw import Pairs, RawClient
from tests.support import RunningServer

BIG = 10**30


@dataclass
class QueueWorld:
    """q1: one visible and one received message (its handle); other, small (maxMsgSize 1024),
    rw (rewindSeconds 3600): empty."""

    raw: RawClient
    handle: str

    def fill(self, pairs: Pairs) -> Pairs:
        now = int(time.time())
        values = {
            "{handle}": self.handle,
            "{future}": str(now + 1000),
            "{long_ago}": str(now - 4000),
        }
        return [(key, values.get(value, value)) for key, value in pairs]


@pytest.fixture
def world(server: RunningServer) -> Iterator[QueueWorld]:
    with RawClient(server) as raw:
        raw.call("CreateQueue", {"queueName": "q1"}).ok()
        raw.call("CreateQueue", {"queueName": "other"}).ok()
        raw.call("CreateQueue", {"queueName": "small", "maxMsgSize": 1024}).ok()
        raw.call("CreateQueue", {"queueName": "rw", "rewindSeconds": 3600}).ok()
        raw.call("SendMessage", {"queueName": "q1", "msgBody": "first"}).ok()
        raw.call("SendMessage", {"queueName": "q1", "msgBody": "second"}).ok()
        received = raw.call("ReceiveMessage", {"queueName": "q1", "pollingWaitSeconds": 0}).ok()
        yield QueueWorld(raw, received["receiptHandle"])


def case(name: str, action: str, pairs: Pairs, code: int, module: int, mentions: str = "") -> Any:
    return pytest.param(action, pairs, code, module, mentions, id=f"{action}-{name}")


def bodies(count: int, start: int = 1, name: str = "msgBody") -> Pairs:
    return [(f"{name}.{i}", f"body{i}") for i in range(start, start + count)]


Q1 = [("queueName", "q1")]
BAD_QUEUE_NAMES = {
    "empty": "",
    "digit-first": "1queue",
    "too-long": "q" * 65,
    "blank": "a queue",
    "dot": "a.b",
    "unicode": "队列",
    "accent": "qué",
    "slash": "a/b",
    "dash-first": "-q",
    "trailing-newline": "q1\n",
}

CASES = [
    # --- CreateQueue ---
    case("missing-name", "CreateQueue", [], 4000, 10390, "queueName"),
    *(
        case(f"name-{label}", "CreateQueue", [("queueName", name)], 4000, 10020)
        for label, name in BAD_QUEUE_NAMES.items()
    ),
    case("exists-case-insensitive", "CreateQueue", [("queueName", "Q1")], 4000, 4460),
    case("name-twice", "CreateQueue", [("queueName", "a"), ("queueName", "b")], 4000, 10330),
    case("name-indexed", "CreateQueue", [("queueName.1", "a")], 4000, 10330, "queueName"),
    case("unknown-param", "CreateQueue", [("queueName", "a"), ("colour", "red")], 4000, 10320),
    case("size-not-int", "CreateQueue", [("queueName", "a"), ("maxMsgSize", "big")], 4000, 10360),
    case("size-float", "CreateQueue", [("queueName", "a"), ("maxMsgSize", "2048.5")], 4000, 10360),
    case("size-empty", "CreateQueue", [("queueName", "a"), ("maxMsgSize", "")], 4000, 10360),
    case(
        "size-underscore", "CreateQueue", [("queueName", "a"), ("maxMsgSize", "2_048")], 4000, 10360
    ),
    case(
        "size-fullwidth",
        "CreateQueue",
        [("queueName", "a"), ("maxMsgSize", "\uff12\uff10\uff14\uff18")],
        4000,
        10360,
    ),
    case("size-exponent", "CreateQueue", [("queueName", "a"), ("maxMsgSize", "2e3")], 4000, 10360),
    case("size-low", "CreateQueue", [("queueName", "a"), ("maxMsgSize", "1023")], 4000, 10350),
    case("size-high", "CreateQueue", [("queueName", "a"), ("maxMsgSize", "1048577")], 4000, 10350),
    case("size-huge", "CreateQueue", [("queueName", "a"), ("maxMsgSize", str(BIG))], 4000, 10350),
    case(
        "visibility-0",
        "CreateQueue",
        [("queueName", "a"), ("visibilityTimeout", "0")],
        4000,
        10350,
        "visibilityTimeout",
    ),
    case(
        "visibility-high",
        "CreateQueue",
        [("queueName", "a"), ("visibilityTimeout", "43201")],
        4000,
        10350,
    ),
    case(
        "polling-high",
        "CreateQueue",
        [("queueName", "a"), ("pollingWaitSeconds", "31")],
        4000,
        10350,
        "pollingWaitSeconds",
    ),
    case(
        "polling-negative",
        "CreateQueue",
        [("queueName", "a"), ("pollingWaitSeconds", "-1")],
        4000,
        10350,
    ),
    case(
        "retention-low",
        "CreateQueue",
        [("queueName", "a"), ("msgRetentionSeconds", "59")],
        4000,
        10350,
    ),
    case(
        "retention-high",
        "CreateQueue",
        [("queueName", "a"), ("msgRetentionSeconds", "1296001")],
        4000,
        10350,
    ),
    case(
        "rewind-negative", "CreateQueue", [("queueName", "a"), ("rewindSeconds", "-1")], 4000, 10350
    ),
    case(
        "rewind-over-retention",
        "CreateQueue",
        [("queueName", "a"), ("rewindSeconds", "400000")],
        4000,
        10700,
    ),
    case("heap-0", "CreateQueue", [("queueName", "a"), ("maxMsgHeapNum", "0")], 4000, 10350),
    case(
        "heap-high",
        "CreateQueue",
        [("queueName", "a"), ("maxMsgHeapNum", "1000000001")],
        4000,
        10350,
    ),
    case(
        "dead-letter-policy",
        "CreateQueue",
        [("queueName", "a"), ("deadLetterQueueName", "other"), ("policy", "2")],
        4000,
        10350,
    ),
    case(
        "dead-letter-count",
        "CreateQueue",
        [("queueName", "a"), ("deadLetterQueueName", "other"), ("maxReceiveCount", "0")],
        4000,
        10350,
    ),
    case(
        "dead-letter-name",
        "CreateQueue",
        [("queueName", "a"), ("deadLetterQueueName", "1bad"), ("maxReceiveCount", "3")],
        4000,
        10020,
    ),
    # --- SetQueueAttributes ---
    case("missing-name", "SetQueueAttributes", [("visibilityTimeout", "5")], 4000, 10390),
    case(
        "unknown-queue",
        "SetQueueAttributes",
        [("queueName", "nope"), ("visibilityTimeout", "5")],
        4440,
        10100,
    ),
    case(
        "bad-name",
        "SetQueueAttributes",
        [("queueName", "1bad"), ("visibilityTimeout", "5")],
        4440,
        10100,
    ),
    case(
        "visibility-not-int", "SetQueueAttributes", [*Q1, ("visibilityTimeout", "5s")], 4000, 10360
    ),
    case("visibility-0", "SetQueueAttributes", [*Q1, ("visibilityTimeout", "0")], 4000, 10350),
    case("size-high", "SetQueueAttributes", [*Q1, ("maxMsgSize", "1048577")], 4000, 10350),
    case("rewind-high", "SetQueueAttributes", [*Q1, ("rewindSeconds", "1296001")], 4000, 10350),
    case(
        "rewind-over-retention",
        "SetQueueAttributes",
        [*Q1, ("rewindSeconds", "345601")],
        4000,
        10700,
    ),
    case(
        "retention-under-rewind",
        "SetQueueAttributes",
        [("queueName", "rw"), ("msgRetentionSeconds", "60")],
        4000,
        10700,
    ),
    case(
        "twice",
        "SetQueueAttributes",
        [*Q1, ("visibilityTimeout", "5"), ("visibilityTimeout", "6")],
        4000,
        10330,
    ),
    case("unknown-param", "SetQueueAttributes", [*Q1, ("visibility", "5")], 4000, 10320),
    # --- GetQueueAttributes ---
    case("missing-name", "GetQueueAttributes", [], 4000, 10390, "queueName"),
    case("unknown-queue", "GetQueueAttributes", [("queueName", "nope")], 4440, 10100),
    case("bad-name", "GetQueueAttributes", [("queueName", "q" * 65)], 4440, 10100),
    case("twice", "GetQueueAttributes", [*Q1, *Q1], 4000, 10330),
    case("nul-in-name", "GetQueueAttributes", [("queueName", "q1\x00")], 4000, 10350),
    case("unknown-param", "GetQueueAttributes", [*Q1, ("verbose", "1")], 4000, 10320),
    # --- DeleteQueue ---
    case("missing-name", "DeleteQueue", [], 4000, 10390),
    case("unknown-queue", "DeleteQueue", [("queueName", "nope")], 4440, 10100),
    case("empty-name", "DeleteQueue", [("queueName", "")], 4440, 10100),
    case("twice", "DeleteQueue", [*Q1, ("queueName", "other")], 4000, 10330),
    case("indexed", "DeleteQueue", [("queueName.1", "q1"), ("queueName.2", "other")], 4000, 10330),
    case("unknown-param", "DeleteQueue", [*Q1, ("force", "1")], 4000, 10320),
    # --- ListQueue ---
    case("offset-not-int", "ListQueue", [("offset", "first")], 4000, 10360),
    case("offset-negative", "ListQueue", [("offset", "-1")], 4000, 10350),
    case("offset-huge", "ListQueue", [("offset", str(BIG))], 4000, 10350),
    case("limit-high", "ListQueue", [("limit", "51")], 4000, 10350),
    case("limit-negative", "ListQueue", [("limit", "-1")], 4000, 10350),
    case("limit-float", "ListQueue", [("limit", "1.0")], 4000, 10360),
    case("search-twice", "ListQueue", [("searchWord", "a"), ("searchWord", "b")], 4000, 10330),
    case("search-too-long", "ListQueue", [("searchWord", "q" * 65)], 4000, 10350, "searchWord"),
    case("unknown-param", "ListQueue", [("queueName", "q1")], 4000, 10320),
    # --- RewindQueue ---
    case("missing-name", "RewindQueue", [("startConsumeTime", "{long_ago}")], 4000, 10390),
    case("missing-time", "RewindQueue", [("queueName", "rw")], 4000, 10390, "startConsumeTime"),
    case(
        "time-not-int",
        "RewindQueue",
        [("queueName", "rw"), ("startConsumeTime", "yesterday")],
        4000,
        10360,
    ),
    case(
        "unknown-queue",
        "RewindQueue",
        [("queueName", "nope"), ("startConsumeTime", "0")],
        4440,
        10100,
    ),
    case("rewind-off", "RewindQueue", [*Q1, ("startConsumeTime", "{long_ago}")], 6050, 10670),
    case(
        "time-future",
        "RewindQueue",
        [("queueName", "rw"), ("startConsumeTime", "{future}")],
        4000,
        10680,
    ),
    case(
        "time-too-old",
        "RewindQueue",
        [("queueName", "rw"), ("startConsumeTime", "{long_ago}")],
        4000,
        10680,
    ),
    case(
        "time-huge",
        "RewindQueue",
        [("queueName", "rw"), ("startConsumeTime", str(BIG))],
        4000,
        10680,
    ),
    case(
        "time-negative",
        "RewindQueue",
        [("queueName", "rw"), ("startConsumeTime", "-5")],
        4000,
        10680,
    ),
    # --- SendMessage ---
    case("missing-name", "SendMessage", [("msgBody", "x")], 4000, 10390, "queueName"),
    case("missing-body", "SendMessage", Q1, 4000, 10390, "msgBody"),
    case("empty-body", "SendMessage", [*Q1, ("msgBody", "")], 4000, 10120),
    case(
        "body-over-max",
        "SendMessage",
        [("queueName", "small"), ("msgBody", "x" * 1025)],
        4400,
        10230,
    ),
    case(
        "body-over-max-bytes",
        "SendMessage",
        [("queueName", "small"), ("msgBody", "é" * 513)],
        4400,
        10230,
    ),
    case("unknown-queue", "SendMessage", [("queueName", "nope"), ("msgBody", "x")], 4440, 10100),
    case(
        "delay-negative",
        "SendMessage",
        [*Q1, ("msgBody", "x"), ("delaySeconds", "-1")],
        4000,
        10692,
    ),
    case(
        "delay-high", "SendMessage", [*Q1, ("msgBody", "x"), ("delaySeconds", "3601")], 4000, 10692
    ),
    case(
        "delay-huge",
        "SendMessage",
        [*Q1, ("msgBody", "x"), ("delaySeconds", str(BIG))],
        4000,
        10692,
    ),
    case(
        "delay-not-int",
        "SendMessage",
        [*Q1, ("msgBody", "x"), ("delaySeconds", "soon")],
        4000,
        10360,
        "delaySeconds",
    ),
    case("body-twice", "SendMessage", [*Q1, ("msgBody", "x"), ("msgBody", "y")], 4000, 10330),
    case("body-indexed", "SendMessage", [*Q1, ("msgBody.1", "x")], 4000, 10330),
    case("unknown-param", "SendMessage", [*Q1, ("msgBody", "x"), ("msgTag", "a")], 4000, 10320),
    case("key-format", "SendMessage", [*Q1, ("msgBody", "x"), ("msg.body.x", "a")], 4000, 10310),
    # --- BatchSendMessage ---
    case("missing-name", "BatchSendMessage", bodies(2), 4000, 10390, "queueName"),
    case("missing-bodies", "BatchSendMessage", Q1, 4000, 10390, "msgBody"),
    case("too-many", "BatchSendMessage", [*Q1, *bodies(17)], 4000, 10370),
    case("too-many-from-0", "BatchSendMessage", [*Q1, *bodies(17, start=0)], 4000, 10370),
    case("gap", "BatchSendMessage", [*Q1, ("msgBody.1", "a"), ("msgBody.3", "c")], 4000, 10380),
    case(
        "starts-at-2",
        "BatchSendMessage",
        [*Q1, ("msgBody.2", "a"), ("msgBody.3", "b")],
        4000,
        10380,
    ),
    case(
        "index-twice",
        "BatchSendMessage",
        [*Q1, ("msgBody.1", "a"), ("msgBody.1", "b")],
        4000,
        10000,
    ),
    case(
        "plain-and-indexed",
        "BatchSendMessage",
        [*Q1, ("msgBody", "a"), ("msgBody.1", "b")],
        4000,
        10000,
    ),
    case("index-not-number", "BatchSendMessage", [*Q1, ("msgBody.one", "a")], 4000, 10310),
    case("index-negative", "BatchSendMessage", [*Q1, ("msgBody.-1", "a")], 4000, 10310),
    case("index-arabic-digit", "BatchSendMessage", [*Q1, ("msgBody.\u0661", "a")], 4000, 10310),
    case(
        "empty-body", "BatchSendMessage", [*Q1, ("msgBody.1", "a"), ("msgBody.2", "")], 4000, 10120
    ),
    case(
        "body-over-max",
        "BatchSendMessage",
        [("queueName", "small"), ("msgBody.1", "ok"), ("msgBody.2", "x" * 1025)],
        4400,
        10230,
    ),
    case("unknown-queue", "BatchSendMessage", [("queueName", "nope"), *bodies(2)], 4440, 10100),
    case(
        "delay-high", "BatchSendMessage", [*Q1, *bodies(2), ("delaySeconds", "3601")], 4000, 10692
    ),
    case(
        "delay-not-int",
        "BatchSendMessage",
        [*Q1, *bodies(2), ("delaySeconds", "0x10")],
        4000,
        10360,
    ),
    case("name-twice", "BatchSendMessage", [*Q1, *Q1, *bodies(2)], 4000, 10330),
    case("unknown-list", "BatchSendMessage", [*Q1, *bodies(2), ("msgTag.1", "a")], 4000, 10320),
    # --- ReceiveMessage ---
    case("missing-name", "ReceiveMessage", [], 4000, 10390, "queueName"),
    case("unknown-queue", "ReceiveMessage", [("queueName", "nope")], 4440, 10100),
    case("wait-high", "ReceiveMessage", [*Q1, ("pollingWaitSeconds", "31")], 4000, 10350),
    case("wait-negative", "ReceiveMessage", [*Q1, ("pollingWaitSeconds", "-1")], 4000, 10350),
    case("wait-not-int", "ReceiveMessage", [*Q1, ("pollingWaitSeconds", "1.5")], 4000, 10360),
    case("name-twice", "ReceiveMessage", [*Q1, *Q1], 4000, 10330),
    case("unknown-param", "ReceiveMessage", [*Q1, ("numOfMsg", "1")], 4000, 10320),
    # --- BatchReceiveMessage ---
    case("missing-name", "BatchReceiveMessage", [("numOfMsg", "2")], 4000, 10390),
    case("missing-count", "BatchReceiveMessage", Q1, 4000, 10390, "numOfMsg"),
    case("count-0", "BatchReceiveMessage", [*Q1, ("numOfMsg", "0")], 4000, 10370),
    case("count-17", "BatchReceiveMessage", [*Q1, ("numOfMsg", "17")], 4000, 10370),
    case("count-huge", "BatchReceiveMessage", [*Q1, ("numOfMsg", str(BIG))], 4000, 10370),
    case("count-not-int", "BatchReceiveMessage", [*Q1, ("numOfMsg", "two")], 4000, 10360),
    case(
        "wait-high",
        "BatchReceiveMessage",
        [*Q1, ("numOfMsg", "2"), ("pollingWaitSeconds", "31")],
        4000,
        10350,
    ),
    case(
        "unknown-queue",
        "BatchReceiveMessage",
        [("queueName", "nope"), ("numOfMsg", "2")],
        4440,
        10100,
    ),
    case(
        "count-twice",
        "BatchReceiveMessage",
        [*Q1, ("numOfMsg", "1"), ("numOfMsg", "2")],
        4000,
        10330,
    ),
    # --- DeleteMessage ---
    case("missing-name", "DeleteMessage", [("receiptHandle", "{handle}")], 4000, 10390),
    case("missing-handle", "DeleteMessage", Q1, 4000, 10390, "receiptHandle"),
    case("empty-handle", "DeleteMessage", [*Q1, ("receiptHandle", "")], 4000, 10470),
    case("blank-handle", "DeleteMessage", [*Q1, ("receiptHandle", "  ")], 4000, 10470),
    case("unknown-handle", "DeleteMessage", [*Q1, ("receiptHandle", "bogus")], 4430, 10260),
    case("numeric-handle", "DeleteMessage", [*Q1, ("receiptHandle", "12345")], 4430, 10260),
    case(
        "huge-pk-handle", "DeleteMessage", [*Q1, ("receiptHandle", "9" * 30 + "-abc")], 4430, 10260
    ),
    case(
        "superscript-handle", "DeleteMessage", [*Q1, ("receiptHandle", "\u00b2-abc")], 4430, 10260
    ),
    case("nul-handle", "DeleteMessage", [*Q1, ("receiptHandle", "1-\x00")], 4000, 10350),
    case(
        "other-queue",
        "DeleteMessage",
        [("queueName", "other"), ("receiptHandle", "{handle}")],
        4430,
        10260,
    ),
    case(
        "unknown-queue",
        "DeleteMessage",
        [("queueName", "nope"), ("receiptHandle", "{handle}")],
        4440,
        10100,
    ),
    case(
        "handle-twice",
        "DeleteMessage",
        [*Q1, ("receiptHandle", "{handle}"), ("receiptHandle", "{handle}")],
        4000,
        10330,
    ),
    case("handle-indexed", "DeleteMessage", [*Q1, ("receiptHandle.1", "{handle}")], 4000, 10330),
    # --- BatchDeleteMessage ---
    case("missing-name", "BatchDeleteMessage", [("receiptHandle.1", "{handle}")], 4000, 10390),
    case("missing-handles", "BatchDeleteMessage", Q1, 4000, 10390, "receiptHandle"),
    case("too-many", "BatchDeleteMessage", [*Q1, *bodies(17, name="receiptHandle")], 4000, 10370),
    case(
        "gap",
        "BatchDeleteMessage",
        [*Q1, ("receiptHandle.0", "{handle}"), ("receiptHandle.2", "x")],
        4000,
        10380,
    ),
    case(
        "empty-handle",
        "BatchDeleteMessage",
        [*Q1, ("receiptHandle.1", "{handle}"), ("receiptHandle.2", "")],
        4000,
        10470,
    ),
    case(
        "unknown-queue",
        "BatchDeleteMessage",
        [("queueName", "nope"), ("receiptHandle.1", "{handle}")],
        4440,
        10100,
    ),
    case(
        "all-unknown",
        "BatchDeleteMessage",
        [*Q1, ("receiptHandle.1", "bogus"), ("receiptHandle.2", "junk")],
        6010,
        10150,
    ),
    case(
        "name-twice", "BatchDeleteMessage", [*Q1, *Q1, ("receiptHandle.1", "{handle}")], 4000, 10330
    ),
]


@pytest.mark.parametrize(("action", "pairs", "code", "module", "mentions"), CASES)
def test_bad_input_is_refused_and_changes_nothing(
    world: QueueWorld, action: str, pairs: Pairs, code: int, module: int, mentions: str
) -> None:
    raw = world.raw
    before = raw.snapshot()
    raw.call(action, world.fill(pairs)).expect(code, module, mentions=mentions)
    assert raw.snapshot() == before


GET_CASES = [
    case("empty-body", "SendMessage", [*Q1, ("msgBody", "")], 4000, 10120),
    case("gap", "BatchSendMessage", [*Q1, ("msgBody.1", "a"), ("msgBody.3", "c")], 4000, 10380),
    case("too-many", "BatchSendMessage", [*Q1, *bodies(17)], 4000, 10370),
    case("unknown-param", "CreateQueue", [("queueName", "a"), ("colour", "red")], 4000, 10320),
    case("name", "CreateQueue", [("queueName", "1queue")], 4000, 10020),
    case("not-int", "SetQueueAttributes", [*Q1, ("visibilityTimeout", "5s")], 4000, 10360),
    case("unknown-handle", "DeleteMessage", [*Q1, ("receiptHandle", "bogus")], 4430, 10260),
]


@pytest.mark.parametrize(("action", "pairs", "code", "module", "mentions"), GET_CASES)
def test_bad_input_by_get_is_refused_the_same_way(
    world: QueueWorld, action: str, pairs: Pairs, code: int, module: int, mentions: str
) -> None:
    raw = world.raw
    before = raw.snapshot()
    raw.call(action, world.fill(pairs), method="GET").expect(code, module, mentions=mentions)
    assert raw.snapshot() == before


def test_error_list_of_a_partial_batch_delete(world: QueueWorld) -> None:
    raw = world.raw
    answer = raw.call(
        "BatchDeleteMessage",
        [("queueName", "q1"), ("receiptHandle.1", world.handle), ("receiptHandle.2", "bogus")],
    )
    answer.expect(6010, 10150)
    assert answer.body["errorList"] == [
        {"code": 4430, "message": "(10260)receipt handle is invalid", "receiptHandle": "bogus"}
    ]
    attributes = raw.call("GetQueueAttributes", {"queueName": "q1"}).ok()
    assert (attributes["activeMsgNum"], attributes["inactiveMsgNum"]) == (1, 0)


def test_superseded_receipt_handle_is_refused(world: QueueWorld) -> None:
    raw = world.raw
    raw.call("CreateQueue", {"queueName": "fast", "visibilityTimeout": 1}).ok()
    raw.call("SendMessage", {"queueName": "fast", "msgBody": "m"}).ok()
    first = raw.call("ReceiveMessage", {"queueName": "fast", "pollingWaitSeconds": 0}).ok()
    second = raw.call("ReceiveMessage", {"queueName": "fast", "pollingWaitSeconds": 5}).ok()
    assert second["msgId"] == first["msgId"]
    assert second["receiptHandle"] != first["receiptHandle"]
    raw.call("SetQueueAttributes", {"queueName": "fast", "visibilityTimeout": 60}).ok()
    before = raw.snapshot()
    raw.call(
        "DeleteMessage", {"queueName": "fast", "receiptHandle": first["receiptHandle"]}
    ).expect(4430, 10260)
    assert raw.snapshot() == before


def test_expired_receipt_handle_is_refused(world: QueueWorld) -> None:
    raw = world.raw
    raw.call("CreateQueue", {"queueName": "fast", "visibilityTimeout": 1}).ok()
    raw.call("SendMessage", {"queueName": "fast", "msgBody": "m"}).ok()
    got = raw.call("ReceiveMessage", {"queueName": "fast", "pollingWaitSeconds": 0}).ok()
    time.sleep(1.3)
    before = raw.snapshot()
    assert before["queue fast"]["activeMsgNum"] == 1
    raw.call("DeleteMessage", {"queueName": "fast", "receiptHandle": got["receiptHandle"]}).expect(
        4430, 10260
    )
    assert raw.snapshot() == before


def test_deleted_message_handle_is_refused_the_second_time(world: QueueWorld) -> None:
    raw = world.raw
    raw.call("DeleteMessage", {"queueName": "q1", "receiptHandle": world.handle}).ok()
    before = raw.snapshot()
    raw.call("DeleteMessage", {"queueName": "q1", "receiptHandle": world.handle}).expect(
        4430, 10260
    )
    assert raw.snapshot() == before


def test_message_at_max_size_is_accepted_one_byte_more_is_not(world: QueueWorld) -> None:
    raw = world.raw
    raw.call("SendMessage", {"queueName": "small", "msgBody": "x" * 1024}).ok()
    raw.call("SendMessage", {"queueName": "small", "msgBody": "x" * 1025}).expect(4400, 10230)
    attributes = raw.call("GetQueueAttributes", {"queueName": "small"}).ok()
    assert attributes["activeMsgNum"] == 1


def test_batch_of_sixteen_is_accepted(world: QueueWorld) -> None:
    raw = world.raw
    answer = raw.call("BatchSendMessage", [("queueName", "other"), *bodies(16, start=0)]).ok()
    assert len(answer["msgList"]) == 16


def test_queue_full_refuses_and_stores_nothing(world: QueueWorld) -> None:
    raw = world.raw
    raw.call("CreateQueue", {"queueName": "tiny", "maxMsgHeapNum": 2}).ok()
    raw.call("SendMessage", {"queueName": "tiny", "msgBody": "a"}).ok()
    before = raw.snapshot()
    raw.call("BatchSendMessage", [("queueName", "tiny"), *bodies(2)]).expect(4410, 10240)
    assert raw.snapshot() == before
