"""SDK conformance: subscription calls, their attributes and the SDK's quirks
(cmq-api.md §2.3, §4)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from cmq.cmq_exception import CMQServerException
from cmq.queue import QueueMeta
from cmq.subscription import SubscriptionMeta
from cmq.topic import Message, TopicMeta

from tests.support import CREDENTIAL, wait_until

UNREACHABLE = "http://127.0.0.1:9/never"  # the discard port: connection refused, so retries


def server_error(call: Callable[[], object]) -> Any:
    """The CMQServerException `call` raises."""
    with pytest.raises(CMQServerException) as caught:
        call()
    return caught.value


def make_topic(account: Any, name: str, filter_type: int = 1) -> Any:
    meta = TopicMeta()
    meta.filterType = filter_type
    topic = account.get_topic(name)
    topic.create(meta)
    return topic


def queue_meta(endpoint: str, *, tags: Sequence[str] = (), binding_keys: Sequence[str] = ()) -> Any:
    meta = SubscriptionMeta()
    meta.Protocal = "queue"
    meta.Endpoint = endpoint
    meta.NotifyContentFormat = "SIMPLIFIED"
    meta.FilterTag = list(tags)
    meta.bindingKey = list(binding_keys)
    return meta


def http_meta(endpoint: str = UNREACHABLE) -> Any:
    meta = SubscriptionMeta()
    meta.Protocal = "http"
    meta.Endpoint = endpoint
    return meta


def make_queue(account: Any, name: str) -> Any:
    queue = account.get_queue(name)
    queue.create(QueueMeta())
    return queue


def drain(queue: Any) -> list[str]:
    """Receive and delete everything the queue holds now; the bodies in receive order."""
    bodies: list[str] = []
    while got := receive_batch(queue):
        bodies += [m.msgBody for m in got]
        queue.batch_delete_message([m.receiptHandle for m in got])
    return bodies


def receive_batch(queue: Any) -> list[Any]:
    """Up to 16 visible messages, or [] when the queue answers 7000 (no message)."""
    try:
        return list(queue.batch_receive_message(16, polling_wait_seconds=0))
    except CMQServerException as error:
        if error.code != 7000:
            raise
        return []


# --- create and get_attributes ---------------------------------------------------------------


def test_queue_subscription_attributes_through_the_sdk(account: Any) -> None:
    make_topic(account, "news")
    make_queue(account, "inbox")
    before = int(time.time())
    subscription = account.get_subscription("news", "inbox-sub")
    subscription.create(queue_meta("inbox", tags=["sport", "weather"]))

    meta = subscription.get_attributes()
    # SDK quirk: it reads `protocal` (sic); batchd answers both spellings.
    assert meta.Protocal == "queue"
    assert meta.TopicOwner == CREDENTIAL.app_id
    assert meta.NotifyStrategy == "EXPONENTIAL_DECAY_RETRY"
    assert meta.NotifyContentFormat == "SIMPLIFIED"
    assert meta.FilterTag == ["sport", "weather"]
    assert meta.bindingKey == []
    assert before - 1 <= meta.createTime <= int(time.time()) + 1
    assert meta.lastModifyTime >= meta.createTime
    # SDK quirks: `endpoint` lands in maxMsgHeapNum and `msgCount` in inactiveMsgNum.
    assert meta.maxMsgHeapNum == "inbox"
    assert meta.inactiveMsgNum == 0


def test_raw_answer_carries_both_protocol_spellings(account: Any) -> None:
    make_topic(account, "raw")
    account.get_subscription("raw", "web").create(http_meta("https://example.com/hook?x=1"))
    answer = account.get_client().get_subscription_attributes(
        {"topicName": "raw", "subscriptionName": "web"}
    )
    assert answer["protocol"] == answer["protocal"] == "http"
    assert answer["endpoint"] == "https://example.com/hook?x=1"
    assert answer["notifyContentFormat"] == "JSON"
    assert (answer["filterTags"], answer["bindingKey"], answer["msgCount"]) == ([], [], 0)


def test_queue_subscription_with_default_meta_is_refused(account: Any) -> None:
    """The SDK always sends notifyContentFormat (JSON by default); a queue needs SIMPLIFIED."""
    make_topic(account, "strict")
    make_queue(account, "target")
    meta = SubscriptionMeta()
    meta.Protocal = "queue"
    meta.Endpoint = "target"
    error = server_error(lambda: account.get_subscription("strict", "target").create(meta))
    assert error.code == 4000
    assert "10640" in error.message
    assert account.get_topic("strict").list_subscription()[0] == 0


def test_http_subscription_with_default_meta(account: Any) -> None:
    make_topic(account, "hooks")
    subscription = account.get_subscription("hooks", "hook")
    subscription.create(http_meta())
    meta = subscription.get_attributes()
    assert (meta.Protocal, meta.NotifyContentFormat) == ("http", "JSON")
    assert meta.NotifyStrategy == "EXPONENTIAL_DECAY_RETRY"
    assert meta.maxMsgHeapNum == UNREACHABLE


def test_subscribe_refusals(account: Any) -> None:
    make_topic(account, "guarded")
    make_queue(account, "exists")

    def create(name: str, meta: Any, topic: str = "guarded") -> Any:
        return server_error(lambda: account.get_subscription(topic, name).create(meta))

    assert create("s", queue_meta("exists"), topic="no-topic").code == 4440
    assert create("s", queue_meta("no-such-queue")).code == 4440
    assert create("bad name", queue_meta("exists")).message.startswith("(10590)")
    wrong = queue_meta("exists")
    wrong.Protocal = "smtp"
    assert create("s", wrong).message.startswith("(10510)")
    assert create("s", http_meta("ftp://example.com")).message.startswith("(10500)")
    assert create("s", http_meta("http://exa mple.com")).code == 4000
    strategy = http_meta()
    strategy.NotifyStrategy = "SOMETIMES"
    assert create("s", strategy).message.startswith("(10520)")
    content = http_meta()
    content.NotifyContentFormat = "XML"
    assert create("s", content).message.startswith("(10530)")
    error = create("s", queue_meta("exists", tags=[f"t{i}" for i in range(6)]))
    assert (error.code, error.message.startswith("(10670)")) == (4000, True)
    assert account.get_topic("guarded").list_subscription()[0] == 0

    account.get_subscription("guarded", "taken").create(queue_meta("exists"))
    error = create("taken", queue_meta("exists"))
    assert (error.code, error.message.startswith("(10470)")) == (4490, True)


def test_same_subscription_name_on_two_topics(account: Any) -> None:
    for name in ("left", "right"):
        make_topic(account, name)
    make_queue(account, "shared")
    account.get_subscription("left", "sub").create(queue_meta("shared"))
    account.get_subscription("right", "sub").create(queue_meta("shared"))
    account.get_topic("left").publish_message(Message("from left"))
    account.get_topic("right").publish_message(Message("from right"))
    assert drain(account.get_queue("shared")) == ["from left", "from right"]


# --- set_attributes and clearFilterTags --------------------------------------------------------


def test_set_attributes_replaces_strategy_and_filter_tags(account: Any) -> None:
    topic = make_topic(account, "settable")
    queue = make_queue(account, "settable-q")
    subscription = account.get_subscription("settable", "sub")
    subscription.create(queue_meta("settable-q", tags=["a"]))
    created = subscription.get_attributes()

    meta = queue_meta("settable-q", tags=["b", "c"])
    meta.NotifyStrategy = "BACKOFF_RETRY"
    subscription.set_attributes(meta)
    changed = subscription.get_attributes()
    assert changed.FilterTag == ["b", "c"]
    assert changed.NotifyStrategy == "BACKOFF_RETRY"
    assert changed.NotifyContentFormat == "SIMPLIFIED"
    assert changed.createTime == created.createTime
    assert changed.lastModifyTime >= created.lastModifyTime

    error = server_error(lambda: topic.publish_message(Message("tagged a", ["a"])))
    assert error.code == 6030  # the only subscription no longer takes tag "a"
    topic.publish_message(Message("tagged c", ["c"]))
    assert drain(queue) == ["tagged c"]

    # The SDK sends notifyContentFormat=JSON unless told otherwise: refused for a queue.
    error = server_error(lambda: subscription.set_attributes(SubscriptionMeta()))
    assert (error.code, "10640" in error.message) == (4000, True)
    assert subscription.get_attributes().NotifyStrategy == "BACKOFF_RETRY"


def test_set_attributes_replaces_binding_keys(account: Any) -> None:
    topic = make_topic(account, "rebind", filter_type=2)
    queue = make_queue(account, "rebind-q")
    subscription = account.get_subscription("rebind", "sub")
    subscription.create(queue_meta("rebind-q", binding_keys=["old.*"]))
    assert subscription.get_attributes().bindingKey == ["old.*"]
    subscription.set_attributes(queue_meta("rebind-q", binding_keys=["new.#", "other"]))
    assert subscription.get_attributes().bindingKey == ["new.#", "other"]
    assert server_error(lambda: topic.publish_message(Message("m"), routingKey="old.x")).code == (
        6030
    )
    topic.publish_message(Message("new"), routingKey="new.x.y")
    topic.publish_message(Message("other"), routingKey="other")
    assert drain(queue) == ["new", "other"]


def test_clear_filter_tags_lets_every_message_through(account: Any) -> None:
    topic = make_topic(account, "clearable")
    queue = make_queue(account, "clearable-q")
    subscription = account.get_subscription("clearable", "sub")
    subscription.create(queue_meta("clearable-q", tags=["only-this"]))
    assert server_error(lambda: topic.publish_message(Message("plain"))).code == 6030

    subscription.clearFilterTags()
    meta = subscription.get_attributes()
    assert meta.FilterTag == []
    assert meta.NotifyContentFormat == "SIMPLIFIED"
    topic.publish_message(Message("plain"))
    topic.publish_message(Message("other tag", ["something-else"]))
    assert drain(queue) == ["plain", "other tag"]


# --- list and delete ---------------------------------------------------------------------------


def test_list_subscription(account: Any) -> None:
    topic = make_topic(account, "listed")
    make_queue(account, "listed-q")
    names = ["queue-a", "queue-b", "web-a", "web-b", "web-c"]
    for name in names[:2]:
        account.get_subscription("listed", name).create(queue_meta("listed-q"))
    for name in names[2:]:
        account.get_subscription("listed", name).create(http_meta(f"http://127.0.0.1:9/{name}"))

    total, found, next_offset = topic.list_subscription()
    assert (total, [s["subscriptionName"] for s in found], next_offset) == (5, names, "")
    assert found[0]["protocol"] == "queue"
    assert found[0]["endpoint"] == "listed-q"
    assert found[2]["protocol"] == "http"
    assert found[2]["endpoint"] == "http://127.0.0.1:9/web-a"
    assert len({s["subscriptionId"] for s in found}) == 5

    total, found, _ = topic.list_subscription(searchWord="web")
    assert (total, [s["subscriptionName"] for s in found]) == (3, names[2:])

    seen: list[str] = []
    total, found, next_offset = topic.list_subscription(limit=2)
    seen += [s["subscriptionName"] for s in found]
    while next_offset != "":
        total, found, next_offset = topic.list_subscription(limit=2, offset=next_offset)
        seen += [s["subscriptionName"] for s in found]
    assert seen == names

    assert server_error(lambda: topic.list_subscription(limit=101)).code == 4000
    missing = account.get_topic("missing")
    assert server_error(missing.list_subscription).code == 4440


def test_delete_subscription(account: Any) -> None:
    topic = make_topic(account, "leaving")
    queue = make_queue(account, "leaving-q")
    stays = make_queue(account, "staying-q")
    subscription = account.get_subscription("leaving", "gone")
    subscription.create(queue_meta("leaving-q"))
    account.get_subscription("leaving", "stays").create(queue_meta("staying-q"))

    subscription.delete()
    error = server_error(subscription.get_attributes)
    assert error.code == 4440
    assert server_error(subscription.delete).code == 4440
    assert server_error(subscription.clearFilterTags).code == 4440
    assert [s["subscriptionName"] for s in topic.list_subscription()[1]] == ["stays"]

    topic.publish_message(Message("after unsubscribe"))
    assert drain(queue) == []
    assert drain(stays) == ["after unsubscribe"]


# --- pending deliveries ---------------------------------------------------------------------


def test_pending_http_deliveries_are_counted_and_dropped_on_unsubscribe(account: Any) -> None:
    topic = make_topic(account, "pending")
    subscription = account.get_subscription("pending", "down")
    subscription.create(http_meta())
    topic.publish_message(Message("will not arrive"))
    topic.batch_publish_message([Message("b1"), Message("b2")])
    assert subscription.get_attributes().inactiveMsgNum == 3  # the SDK's name for msgCount
    assert topic.get_attributes().msgCount == 3

    subscription.delete()
    assert topic.get_attributes().msgCount == 0
    topic.delete()


def test_delivery_to_a_missing_queue_is_retried_until_it_exists(account: Any) -> None:
    topic = make_topic(account, "retrying")
    make_queue(account, "late")
    subscription = account.get_subscription("retrying", "late")
    subscription.create(queue_meta("late"))
    account.get_queue("late").delete()

    topic.publish_message(Message("eventually"))
    assert subscription.get_attributes().inactiveMsgNum == 1
    queue = make_queue(account, "late")
    got = queue.receive_message(polling_wait_seconds=10)
    assert got.msgBody == "eventually"
    queue.delete_message(got.receiptHandle)
    wait_until(lambda: subscription.get_attributes().inactiveMsgNum == 0, timeout=5)
    assert topic.get_attributes().msgCount == 0
