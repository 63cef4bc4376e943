"""SDK conformance: topic calls, fan-out to queue subscriptions, tag and routing-key filters
(cmq-api.md §2.2, §3)."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from cmq.cmq_exception import CMQServerException
from cmq.queue import QueueMeta
from cmq.subscription import SubscriptionMeta
from cmq.topic import Message, TopicMeta

from tests.support import CREDENTIAL, CmqAccounts, RunningServer


def server_error(call: Callable[[], object]) -> Any:
    """The CMQServerException `call` raises."""
    with pytest.raises(CMQServerException) as caught:
        call()
    return caught.value


def make_topic(account: Any, name: str, filter_type: int = 1, max_msg_size: int = 65_536) -> Any:
    meta = TopicMeta()
    meta.filterType = filter_type
    meta.maxMsgSize = max_msg_size
    topic = account.get_topic(name)
    topic.create(meta)
    return topic


def subscribe_queue(
    account: Any,
    topic_name: str,
    queue_name: str,
    *,
    tags: Sequence[str] = (),
    binding_keys: Sequence[str] = (),
) -> Any:
    """A new queue `queue_name` and a subscription of the same name that feeds it."""
    queue = account.get_queue(queue_name)
    queue.create(QueueMeta())
    meta = SubscriptionMeta()
    meta.Protocal = "queue"
    meta.Endpoint = queue_name
    meta.NotifyContentFormat = "SIMPLIFIED"
    meta.FilterTag = list(tags)
    meta.bindingKey = list(binding_keys)
    account.get_subscription(topic_name, queue_name).create(meta)
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


# --- lifecycle and attributes -----------------------------------------------------------------


def test_create_and_get_attributes(account: Any) -> None:
    before = int(time.time())
    topic = make_topic(account, "events")
    meta = topic.get_attributes()
    assert meta.topicName == "events"
    assert (meta.filterType, meta.maxMsgSize, meta.msgRetentionSeconds) == (1, 65_536, 86_400)
    assert meta.msgCount == 0
    assert before - 1 <= meta.createTime <= int(time.time()) + 1
    assert meta.lastModifyTime >= meta.createTime
    assert make_topic(account, "routed", filter_type=2).get_attributes().filterType == 2


def test_set_attributes_changes_max_msg_size(account: Any) -> None:
    topic = make_topic(account, "sized", max_msg_size=4096)
    assert topic.get_attributes().maxMsgSize == 4096
    meta = TopicMeta()
    meta.maxMsgSize = 1024
    topic.set_attributes(meta)
    changed = topic.get_attributes()
    assert changed.maxMsgSize == 1024
    assert changed.filterType == 1
    subscribe_queue(account, "sized", "sink")
    topic.publish_message(Message("x" * 1024))
    error = server_error(lambda: topic.publish_message(Message("x" * 1025)))
    assert (error.code, error.message.startswith("(10230)")) == (4400, True)
    meta.maxMsgSize = 100
    assert server_error(lambda: topic.set_attributes(meta)).code == 4000
    assert server_error(lambda: make_topic(account, "too-big", max_msg_size=65_537)).code == 4000


def test_duplicate_and_invalid_topic_names(account: Any) -> None:
    make_topic(account, "once")
    assert server_error(lambda: make_topic(account, "once")).code == 4000
    error = server_error(lambda: make_topic(account, "no spaces"))
    assert (error.code, error.message.startswith("(10590)")) == (4000, True)
    assert server_error(lambda: make_topic(account, "bad-filter", filter_type=3)).code == 4000


def test_delete_topic_is_refused_while_subscriptions_exist(account: Any) -> None:
    topic = make_topic(account, "busy")
    subscribe_queue(account, "busy", "listener")
    error = server_error(topic.delete)
    assert (error.code, error.message.startswith("(10540)")) == (4000, True)
    assert topic.get_attributes().topicName == "busy"

    account.get_subscription("busy", "listener").delete()
    topic.delete()
    error = server_error(topic.get_attributes)
    assert (error.code, error.message.startswith("(10600)")) == (4440, True)
    assert server_error(topic.delete).code == 4440
    assert server_error(lambda: topic.publish_message(Message("x"))).code == 4440


# --- ListTopic ---------------------------------------------------------------------------------


def test_list_topic_search_offset_limit_and_paging(account: Any) -> None:
    names = ["job-events", "node-events", "job-audit", "misc"]
    for name in names:
        make_topic(account, name)
    total, topics, next_offset = account.list_topic()
    assert (total, [t["topicName"] for t in topics], next_offset) == (4, names, "")
    assert all(t["topicId"] for t in topics)

    total, topics, _ = account.list_topic(searchWord="job")
    assert (total, [t["topicName"] for t in topics]) == (2, ["job-events", "job-audit"])
    total, topics, _ = account.list_topic(searchWord="events", offset=1)
    assert (total, [t["topicName"] for t in topics]) == (2, ["node-events"])

    seen: list[str] = []
    total, topics, next_offset = account.list_topic(limit=3)
    assert next_offset == 3
    seen += [t["topicName"] for t in topics]
    while next_offset != "":
        total, topics, next_offset = account.list_topic(limit=3, offset=next_offset)
        seen += [t["topicName"] for t in topics]
    assert seen == names
    assert account.list_topic(limit=2, offset=9)[:2] == (4, [])


# --- publishing and fan-out ---------------------------------------------------------------------


def test_publish_without_subscription_answers_6030(account: Any) -> None:
    topic = make_topic(account, "lonely")
    error = server_error(lambda: topic.publish_message(Message("nobody listens")))
    assert (error.code, error.message.startswith("(10650)")) == (6030, True)
    error = server_error(lambda: topic.batch_publish_message([Message("a"), Message("b")]))
    assert (error.code, error.message.startswith("(10650)")) == (6030, True)


def test_publish_fans_out_to_every_queue_subscription(account: Any) -> None:
    topic = make_topic(account, "broadcast")
    queues = [subscribe_queue(account, "broadcast", f"copy-{i}") for i in range(3)]
    published = topic.publish_message(Message("to everyone"))
    assert published.msgId
    for queue in queues:
        got = queue.receive_message(polling_wait_seconds=2)
        assert got.msgBody == "to everyone"
        assert got.dequeueCount == 1
        queue.delete_message(got.receiptHandle)

    sent = topic.batch_publish_message([Message(f"batch {i}") for i in range(4)])
    assert len(sent) == 4
    assert len({m.msgId for m in sent}) == 4
    for queue in queues:
        assert drain(queue) == [f"batch {i}" for i in range(4)]
    # Queue subscriptions are delivered at once: nothing is held for later delivery.
    assert topic.get_attributes().msgCount == 0


def test_publish_wakes_a_long_poll_on_a_subscribed_queue(
    account: Any, server: RunningServer, cmq_accounts: CmqAccounts
) -> None:
    make_topic(account, "wake")
    queue = subscribe_queue(account, "wake", "woken")
    publisher = cmq_accounts(server.base_url)  # the SDK's Account is not thread-safe

    def publish() -> None:
        time.sleep(0.5)
        publisher.get_topic("wake").publish_message(Message("published"))

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    started = time.monotonic()
    got = queue.receive_message(polling_wait_seconds=10)
    elapsed = time.monotonic() - started
    thread.join(timeout=10)
    assert got.msgBody == "published"
    assert 0.3 <= elapsed < 5


def test_publish_limits(account: Any) -> None:
    topic = make_topic(account, "limited")
    subscribe_queue(account, "limited", "limited-sink")
    error = server_error(lambda: topic.publish_message(Message("x", [f"t{i}" for i in range(6)])))
    assert (error.code, error.message.startswith("(10720)")) == (4000, True)
    assert server_error(lambda: topic.publish_message(Message("x", ["x" * 17]))).code == 4000
    assert server_error(lambda: topic.publish_message(Message(""))).code == 4000
    error = server_error(lambda: topic.batch_publish_message([Message(str(i)) for i in range(17)]))
    assert (error.code, error.message.startswith("(10370)")) == (4000, True)
    assert drain(account.get_queue("limited-sink")) == []


# --- filterType 1: tags -----------------------------------------------------------------------


def test_tag_filtering(account: Any) -> None:
    topic = make_topic(account, "tagged")
    everything = subscribe_queue(account, "tagged", "everything")
    red = subscribe_queue(account, "tagged", "red", tags=["red"])
    red_or_blue = subscribe_queue(account, "tagged", "red-or-blue", tags=["red", "blue"])

    topic.publish_message(Message("r", ["red"]))
    topic.publish_message(Message("b", ["blue"]))
    topic.publish_message(Message("rg", ["green", "red"]))
    topic.publish_message(Message("g", ["green"]))
    topic.publish_message(Message("untagged"))

    assert drain(everything) == ["r", "b", "rg", "g", "untagged"]
    assert drain(red) == ["r", "rg"]
    assert drain(red_or_blue) == ["r", "b", "rg"]


def test_batch_publish_tags_apply_to_every_message(account: Any) -> None:
    topic = make_topic(account, "batch-tags")
    blue = subscribe_queue(account, "batch-tags", "blue", tags=["blue"])
    red = subscribe_queue(account, "batch-tags", "red-only", tags=["red"])
    topic.batch_publish_message([Message("1"), Message("2")], msgtag=["blue"])
    assert drain(blue) == ["1", "2"]
    assert drain(red) == []


def test_message_no_tagged_subscription_accepts_answers_6030(account: Any) -> None:
    topic = make_topic(account, "picky")
    red = subscribe_queue(account, "picky", "picky-red", tags=["red"])
    error = server_error(lambda: topic.publish_message(Message("green", ["green"])))
    assert (error.code, error.message.startswith("(10730)")) == (6030, True)
    # An untagged message reaches only subscriptions without filterTag: here, nobody.
    error = server_error(lambda: topic.publish_message(Message("plain")))
    assert (error.code, error.message.startswith("(10730)")) == (6030, True)
    error = server_error(lambda: topic.batch_publish_message([Message("a")], msgtag=["blue"]))
    assert error.code == 6030
    assert drain(red) == []


# --- filterType 2: routing keys -----------------------------------------------------------------


def test_routing_key_matching(account: Any) -> None:
    topic = make_topic(account, "routes", filter_type=2)
    star = subscribe_queue(account, "routes", "star", binding_keys=["a.*"])
    hash_tail = subscribe_queue(account, "routes", "hash-tail", binding_keys=["a.#"])
    middle = subscribe_queue(account, "routes", "middle", binding_keys=["*.x.#"])
    several = subscribe_queue(account, "routes", "several", binding_keys=["b.c", "1.#.0"])

    for key in ("a.x", "a", "a.x.y", "b.c", "1.0", "1.2.3.0", "q.x"):
        topic.publish_message(Message(key), routingKey=key)

    assert drain(star) == ["a.x"]
    assert drain(hash_tail) == ["a.x", "a", "a.x.y"]
    assert drain(middle) == ["a.x", "a.x.y", "q.x"]
    assert drain(several) == ["b.c", "1.0", "1.2.3.0"]

    for key in ("c.d", "b.c.d", "1.2", ""):
        error = server_error(functools.partial(topic.publish_message, Message("m"), routingKey=key))
        assert (error.code, error.message.startswith("(10730)")) == (6030, True)


def test_hash_alone_matches_every_routing_key(account: Any) -> None:
    topic = make_topic(account, "catch-all", filter_type=2)
    every = subscribe_queue(account, "catch-all", "every", binding_keys=["#"])
    topic.publish_message(Message("keyed"), routingKey="any.thing.at.all")
    topic.publish_message(Message("unkeyed"))
    topic.batch_publish_message([Message("b1"), Message("b2")], routingKey="x")
    assert drain(every) == ["keyed", "unkeyed", "b1", "b2"]


def test_routing_topic_requires_binding_keys(account: Any) -> None:
    make_topic(account, "needs-keys", filter_type=2)
    account.get_queue("keyless").create(QueueMeta())
    meta = SubscriptionMeta()
    meta.Protocal = "queue"
    meta.Endpoint = "keyless"
    meta.NotifyContentFormat = "SIMPLIFIED"
    error = server_error(lambda: account.get_subscription("needs-keys", "keyless").create(meta))
    assert (error.code, error.message.startswith("(10710)")) == (4000, True)
    meta.bindingKey = [f"k{i}" for i in range(6)]
    error = server_error(lambda: account.get_subscription("needs-keys", "keyless").create(meta))
    assert (error.code, error.message.startswith("(10680)")) == (4000, True)
    meta.bindingKey = [".".join(["w"] * 17)]
    error = server_error(lambda: account.get_subscription("needs-keys", "keyless").create(meta))
    assert (error.code, error.message.startswith("(10691)")) == (4000, True)


# --- the GET method ---------------------------------------------------------------------------


def test_get_method_topic_round_trip(server: RunningServer, cmq_accounts: CmqAccounts) -> None:
    account = cmq_accounts(server.base_url, CREDENTIAL, sign="sha256", method="GET")
    topic = make_topic(account, "via-get")
    sink = subscribe_queue(account, "via-get", "via-get-sink", tags=["t"])
    topic.publish_message(Message("@get & publish", ["t"]))
    topic.batch_publish_message([Message("b1"), Message("b2")], msgtag=["t"])
    assert drain(sink) == ["@get & publish", "b1", "b2"]
    total, subscriptions, _ = topic.list_subscription()
    assert (total, subscriptions[0]["subscriptionName"]) == (1, "via-get-sink")
    assert account.list_topic()[0] == 1
