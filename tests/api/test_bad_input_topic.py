"""Bad input to every topic and subscription action: the CMQ code and module, nothing written.

cmq-api.md §1.5 (error codes), §1.6 (names and limits), §2.2 (topics), §2.3 (subscriptions).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.raw import Pairs, RawClient
from tests.support import RunningServer

BIG = 10**30
PUSH_URL = "http://127.0.0.1:9/push"  # never called: nothing is published successfully


@pytest.fixture
def raw(server: RunningServer) -> Iterator[RawClient]:
    """sink (queue); t1: tags, maxMsgSize 1024, s1 (queue sink, tag a) and web (http, tag b);
    t2: routing keys, s2 (queue sink, bindingKey a.*); t3: no subscription."""
    with RawClient(server) as raw:
        raw.call("CreateQueue", {"queueName": "sink"}).ok()
        raw.call("CreateTopic", {"topicName": "t1", "maxMsgSize": 1024, "filterType": 1}).ok()
        raw.call("CreateTopic", {"topicName": "t2", "filterType": 2}).ok()
        raw.call("CreateTopic", {"topicName": "t3"}).ok()
        queue_subscription = {
            "protocol": "queue",
            "endpoint": "sink",
            "notifyContentFormat": "SIMPLIFIED",
        }
        raw.call(
            "Subscribe",
            {"topicName": "t1", "subscriptionName": "s1", "filterTag.1": "a", **queue_subscription},
        ).ok()
        raw.call(
            "Subscribe",
            {
                "topicName": "t1",
                "subscriptionName": "web",
                "protocol": "http",
                "endpoint": PUSH_URL,
                "filterTag.1": "b",
            },
        ).ok()
        raw.call(
            "Subscribe",
            {
                "topicName": "t2",
                "subscriptionName": "s2",
                "bindingKey.1": "a.*",
                **queue_subscription,
            },
        ).ok()
        yield raw


def case(name: str, action: str, pairs: Pairs, code: int, module: int, mentions: str = "") -> Any:
    return pytest.param(action, pairs, code, module, mentions, id=f"{action}-{name}")


def numbered(name: str, count: int, value: str = "v", start: int = 1) -> Pairs:
    return [(f"{name}.{i}", f"{value}{i}") for i in range(start, start + count)]


def subscribe(**changes: str | None) -> Pairs:
    """A valid new queue subscription on t1, with parameters changed (None removes one)."""
    params: dict[str, str | None] = {
        "topicName": "t1",
        "subscriptionName": "new",
        "protocol": "queue",
        "endpoint": "sink",
        "notifyContentFormat": "SIMPLIFIED",
        **changes,
    }
    return [(key, value) for key, value in params.items() if value is not None]


T1 = [("topicName", "t1")]
T2 = [("topicName", "t2")]
S1 = [*T1, ("subscriptionName", "s1")]
S2 = [*T2, ("subscriptionName", "s2")]
WEB = [*T1, ("subscriptionName", "web")]
TAG_A = [("msgTag.1", "a")]
BAD_NAMES = {
    "empty": "",
    "digit-first": "1topic",
    "too-long": "t" * 65,
    "blank": "a topic",
    "dot": "a.b",
    "unicode": "主题",
    "dash-first": "-t",
    "star": "t*",
}
LONG_KEY = "k" * 65
SIXTEEN_DOTS = ".".join(["w"] * 17)

CASES = [
    # --- CreateTopic ---
    case("missing-name", "CreateTopic", [], 4000, 10390, "topicName"),
    *(
        case(f"name-{label}", "CreateTopic", [("topicName", name)], 4000, 10590)
        for label, name in BAD_NAMES.items()
    ),
    case("exists", "CreateTopic", T1, 4000, 4460),
    case("size-low", "CreateTopic", [("topicName", "n"), ("maxMsgSize", "1023")], 4000, 10350),
    case("size-high", "CreateTopic", [("topicName", "n"), ("maxMsgSize", "65537")], 4000, 10350),
    case("size-huge", "CreateTopic", [("topicName", "n"), ("maxMsgSize", str(BIG))], 4000, 10350),
    case("size-not-int", "CreateTopic", [("topicName", "n"), ("maxMsgSize", "64k")], 4000, 10360),
    case("filter-0", "CreateTopic", [("topicName", "n"), ("filterType", "0")], 4000, 10350),
    case("filter-3", "CreateTopic", [("topicName", "n"), ("filterType", "3")], 4000, 10350),
    case(
        "filter-not-int", "CreateTopic", [("topicName", "n"), ("filterType", "tags")], 4000, 10360
    ),
    case("name-twice", "CreateTopic", [("topicName", "n"), ("topicName", "m")], 4000, 10330),
    case("name-indexed", "CreateTopic", [("topicName.0", "n")], 4000, 10330),
    case("unknown-param", "CreateTopic", [("topicName", "n"), ("queueName", "q")], 4000, 10320),
    # --- SetTopicAttributes ---
    case("missing-name", "SetTopicAttributes", [("maxMsgSize", "2048")], 4000, 10390),
    case(
        "unknown-topic",
        "SetTopicAttributes",
        [("topicName", "nope"), ("maxMsgSize", "2048")],
        4440,
        10600,
    ),
    case(
        "bad-name", "SetTopicAttributes", [("topicName", "1t"), ("maxMsgSize", "2048")], 4440, 10600
    ),
    case("size-high", "SetTopicAttributes", [*T1, ("maxMsgSize", "65537")], 4000, 10350),
    case("size-negative", "SetTopicAttributes", [*T1, ("maxMsgSize", "-2048")], 4000, 10350),
    case("size-not-int", "SetTopicAttributes", [*T1, ("maxMsgSize", "2048.0")], 4000, 10360),
    case("filter-type-is-fixed", "SetTopicAttributes", [*T1, ("filterType", "2")], 4000, 10320),
    case(
        "size-twice",
        "SetTopicAttributes",
        [*T1, ("maxMsgSize", "2048"), ("maxMsgSize", "4096")],
        4000,
        10330,
    ),
    # --- GetTopicAttributes ---
    case("missing-name", "GetTopicAttributes", [], 4000, 10390),
    case("unknown-topic", "GetTopicAttributes", [("topicName", "nope")], 4440, 10600),
    case("name-twice", "GetTopicAttributes", [*T1, *T2], 4000, 10330),
    case("unknown-param", "GetTopicAttributes", [*T1, ("subscriptionName", "s1")], 4000, 10320),
    # --- DeleteTopic ---
    case("missing-name", "DeleteTopic", [], 4000, 10390),
    case("unknown-topic", "DeleteTopic", [("topicName", "nope")], 4440, 10600),
    case("has-subscriptions", "DeleteTopic", T1, 4000, 10540),
    case("name-twice", "DeleteTopic", [("topicName", "t3"), ("topicName", "t3")], 4000, 10330),
    case("unknown-param", "DeleteTopic", [("topicName", "t3"), ("force", "true")], 4000, 10320),
    # --- ListTopic ---
    case("offset-negative", "ListTopic", [("offset", "-1")], 4000, 10350),
    case("offset-huge", "ListTopic", [("offset", str(BIG))], 4000, 10350),
    case("offset-not-int", "ListTopic", [("offset", "none")], 4000, 10360),
    case("limit-high", "ListTopic", [("limit", "51")], 4000, 10350),
    case("limit-not-int", "ListTopic", [("limit", "ten")], 4000, 10360),
    case("search-too-long", "ListTopic", [("searchWord", "t" * 65)], 4000, 10350),
    case("unknown-param", "ListTopic", [("topicName", "t1")], 4000, 10320),
    # --- PublishMessage ---
    case("missing-name", "PublishMessage", [("msgBody", "x"), *TAG_A], 4000, 10390, "topicName"),
    case("missing-body", "PublishMessage", [*T1, *TAG_A], 4000, 10390, "msgBody"),
    case("empty-body", "PublishMessage", [*T1, ("msgBody", ""), *TAG_A], 4000, 10120),
    case("body-over-max", "PublishMessage", [*T1, ("msgBody", "x" * 1025), *TAG_A], 4400, 10230),
    case("unknown-topic", "PublishMessage", [("topicName", "nope"), ("msgBody", "x")], 4440, 10600),
    case("no-subscription", "PublishMessage", [("topicName", "t3"), ("msgBody", "x")], 6030, 10650),
    case("no-tag-match", "PublishMessage", [*T1, ("msgBody", "x"), ("msgTag.1", "z")], 6030, 10730),
    case("untagged", "PublishMessage", [*T1, ("msgBody", "x")], 6030, 10730),
    case(
        "no-key-match",
        "PublishMessage",
        [*T2, ("msgBody", "x"), ("routingKey", "b.c")],
        6030,
        10730,
    ),
    case(
        "key-too-short", "PublishMessage", [*T2, ("msgBody", "x"), ("routingKey", "a")], 6030, 10730
    ),
    case(
        "too-many-tags",
        "PublishMessage",
        [*T1, ("msgBody", "x"), *numbered("msgTag", 6)],
        4000,
        10720,
    ),
    case(
        "tag-too-long",
        "PublishMessage",
        [*T1, ("msgBody", "x"), ("msgTag.1", "a" * 17)],
        4000,
        10720,
    ),
    case("tag-empty", "PublishMessage", [*T1, ("msgBody", "x"), ("msgTag.1", "")], 4000, 10720),
    case(
        "tag-gap",
        "PublishMessage",
        [*T1, ("msgBody", "x"), ("msgTag.1", "a"), ("msgTag.3", "b")],
        4000,
        10380,
    ),
    case(
        "key-too-long",
        "PublishMessage",
        [*T2, ("msgBody", "x"), ("routingKey", LONG_KEY)],
        4000,
        10350,
    ),
    case(
        "key-too-many-dots",
        "PublishMessage",
        [*T2, ("msgBody", "x"), ("routingKey", SIXTEEN_DOTS)],
        4000,
        10691,
    ),
    case(
        "body-twice",
        "PublishMessage",
        [*T1, ("msgBody", "x"), ("msgBody", "y"), *TAG_A],
        4000,
        10330,
    ),
    case("body-indexed", "PublishMessage", [*T1, ("msgBody.1", "x"), *TAG_A], 4000, 10330),
    case(
        "key-twice",
        "PublishMessage",
        [*T2, ("msgBody", "x"), ("routingKey", "a.b"), ("routingKey", "a.c")],
        4000,
        10330,
    ),
    case(
        "unknown-param",
        "PublishMessage",
        [*T1, ("msgBody", "x"), *TAG_A, ("delaySeconds", "0")],
        4000,
        10320,
    ),
    # --- BatchPublishMessage ---
    case("missing-name", "BatchPublishMessage", [*numbered("msgBody", 2), *TAG_A], 4000, 10390),
    case("missing-bodies", "BatchPublishMessage", [*T1, *TAG_A], 4000, 10390, "msgBody"),
    case("too-many", "BatchPublishMessage", [*T1, *numbered("msgBody", 17), *TAG_A], 4000, 10370),
    case(
        "gap",
        "BatchPublishMessage",
        [*T1, ("msgBody.0", "a"), ("msgBody.2", "c"), *TAG_A],
        4000,
        10380,
    ),
    case(
        "empty-body",
        "BatchPublishMessage",
        [*T1, ("msgBody.1", "a"), ("msgBody.2", ""), *TAG_A],
        4000,
        10120,
    ),
    case(
        "body-over-max",
        "BatchPublishMessage",
        [*T1, ("msgBody.1", "a"), ("msgBody.2", "x" * 1025), *TAG_A],
        4400,
        10230,
    ),
    case(
        "unknown-topic",
        "BatchPublishMessage",
        [("topicName", "nope"), *numbered("msgBody", 2)],
        4440,
        10600,
    ),
    case(
        "no-subscription",
        "BatchPublishMessage",
        [("topicName", "t3"), *numbered("msgBody", 2)],
        6030,
        10650,
    ),
    case(
        "no-match",
        "BatchPublishMessage",
        [*T1, *numbered("msgBody", 2), ("msgTag.1", "z")],
        6030,
        10730,
    ),
    case(
        "too-many-tags",
        "BatchPublishMessage",
        [*T1, *numbered("msgBody", 2), *numbered("msgTag", 6)],
        4000,
        10720,
    ),
    case(
        "key-too-many-dots",
        "BatchPublishMessage",
        [*T2, *numbered("msgBody", 2), ("routingKey", SIXTEEN_DOTS)],
        4000,
        10691,
    ),
    case(
        "unknown-list",
        "BatchPublishMessage",
        [*T1, *numbered("msgBody", 2), *numbered("filterTag", 1)],
        4000,
        10320,
    ),
    # --- Subscribe ---
    case("missing-topic", "Subscribe", subscribe(topicName=None), 4000, 10390, "topicName"),
    case(
        "missing-name",
        "Subscribe",
        subscribe(subscriptionName=None),
        4000,
        10390,
        "subscriptionName",
    ),
    case("missing-protocol", "Subscribe", subscribe(protocol=None), 4000, 10390, "protocol"),
    case("missing-endpoint", "Subscribe", subscribe(endpoint=None), 4000, 10390, "endpoint"),
    *(
        case(f"name-{label}", "Subscribe", subscribe(subscriptionName=name), 4000, 10590)
        for label, name in BAD_NAMES.items()
    ),
    case("exists", "Subscribe", subscribe(subscriptionName="s1"), 4490, 10470),
    case("unknown-topic", "Subscribe", subscribe(topicName="nope"), 4440, 10600),
    case("unknown-queue", "Subscribe", subscribe(endpoint="nosuch"), 4440, 10100),
    case("queue-endpoint-format", "Subscribe", subscribe(endpoint="1bad"), 4000, 10500),
    case("protocol", "Subscribe", subscribe(protocol="ftp"), 4000, 10510),
    case("protocol-empty", "Subscribe", subscribe(protocol=""), 4000, 10510),
    case(
        "http-endpoint-scheme",
        "Subscribe",
        subscribe(protocol="http", endpoint="ftp://h/x", notifyContentFormat="JSON"),
        4000,
        10500,
    ),
    case(
        "http-endpoint-blank",
        "Subscribe",
        subscribe(protocol="http", endpoint="http://h/a b", notifyContentFormat="JSON"),
        4000,
        10500,
    ),
    case(
        "http-endpoint-no-host",
        "Subscribe",
        subscribe(protocol="http", endpoint="http://", notifyContentFormat="JSON"),
        4000,
        10500,
    ),
    case("strategy", "Subscribe", subscribe(notifyStrategy="LINEAR_RETRY"), 4000, 10520),
    case("format", "Subscribe", subscribe(notifyContentFormat="XML"), 4000, 10530),
    case("queue-json", "Subscribe", subscribe(notifyContentFormat="JSON"), 4000, 10640),
    case(
        "too-many-filter-tags", "Subscribe", [*subscribe(), *numbered("filterTag", 6)], 4000, 10670
    ),
    case(
        "filter-tag-too-long", "Subscribe", [*subscribe(), ("filterTag.1", "f" * 17)], 4000, 10670
    ),
    case(
        "filter-tag-gap",
        "Subscribe",
        [*subscribe(), ("filterTag.1", "a"), ("filterTag.3", "b")],
        4000,
        10380,
    ),
    case(
        "too-many-binding-keys",
        "Subscribe",
        [*subscribe(topicName="t2"), *numbered("bindingKey", 6)],
        4000,
        10680,
    ),
    case(
        "binding-key-too-many-dots",
        "Subscribe",
        [*subscribe(topicName="t2"), ("bindingKey.1", SIXTEEN_DOTS)],
        4000,
        10691,
    ),
    case(
        "binding-key-too-long",
        "Subscribe",
        [*subscribe(topicName="t2"), ("bindingKey.1", LONG_KEY)],
        4000,
        10350,
    ),
    case("binding-key-missing", "Subscribe", subscribe(topicName="t2"), 4000, 10710),
    case("protocol-twice", "Subscribe", [*subscribe(), ("protocol", "queue")], 4000, 10330),
    case("unknown-param", "Subscribe", [*subscribe(), ("msgTag.1", "a")], 4000, 10320),
    # --- Unsubscribe ---
    case("missing-topic", "Unsubscribe", [("subscriptionName", "s1")], 4000, 10390, "topicName"),
    case("missing-name", "Unsubscribe", T1, 4000, 10390, "subscriptionName"),
    case(
        "unknown-topic",
        "Unsubscribe",
        [("topicName", "nope"), ("subscriptionName", "s1")],
        4440,
        10600,
    ),
    case("unknown-subscription", "Unsubscribe", [*T1, ("subscriptionName", "s2")], 4440, 10600),
    case("bad-name", "Unsubscribe", [*T1, ("subscriptionName", "1s")], 4440, 10600),
    case("name-twice", "Unsubscribe", [*S1, ("subscriptionName", "web")], 4000, 10330),
    case("unknown-param", "Unsubscribe", [*S1, ("endpoint", "sink")], 4000, 10320),
    # --- ListSubscriptionByTopic ---
    case("missing-topic", "ListSubscriptionByTopic", [], 4000, 10390, "topicName"),
    case("unknown-topic", "ListSubscriptionByTopic", [("topicName", "nope")], 4440, 10600),
    case("offset-high", "ListSubscriptionByTopic", [*T1, ("offset", "1001")], 4000, 10350),
    case("offset-negative", "ListSubscriptionByTopic", [*T1, ("offset", "-1")], 4000, 10350),
    case("limit-high", "ListSubscriptionByTopic", [*T1, ("limit", "101")], 4000, 10350),
    case("limit-not-int", "ListSubscriptionByTopic", [*T1, ("limit", "1e2")], 4000, 10360),
    case(
        "search-too-long", "ListSubscriptionByTopic", [*T1, ("searchWord", "s" * 65)], 4000, 10350
    ),
    case("unknown-param", "ListSubscriptionByTopic", [*T1, ("protocol", "queue")], 4000, 10320),
    # --- GetSubscriptionAttributes ---
    case("missing-topic", "GetSubscriptionAttributes", [("subscriptionName", "s1")], 4000, 10390),
    case("missing-name", "GetSubscriptionAttributes", T1, 4000, 10390, "subscriptionName"),
    case(
        "unknown-topic",
        "GetSubscriptionAttributes",
        [("topicName", "nope"), ("subscriptionName", "s1")],
        4440,
        10600,
    ),
    case(
        "unknown-subscription",
        "GetSubscriptionAttributes",
        [*T1, ("subscriptionName", "x")],
        4440,
        10600,
    ),
    case(
        "name-indexed",
        "GetSubscriptionAttributes",
        [*T1, ("subscriptionName.1", "s1")],
        4000,
        10330,
    ),
    # --- SetSubscriptionAttributes ---
    case(
        "missing-topic",
        "SetSubscriptionAttributes",
        [("subscriptionName", "s1"), ("notifyStrategy", "BACKOFF_RETRY")],
        4000,
        10390,
    ),
    case(
        "missing-name",
        "SetSubscriptionAttributes",
        [*T1, ("notifyStrategy", "BACKOFF_RETRY")],
        4000,
        10390,
    ),
    case(
        "unknown-topic",
        "SetSubscriptionAttributes",
        [("topicName", "nope"), ("subscriptionName", "s1"), ("notifyStrategy", "BACKOFF_RETRY")],
        4440,
        10600,
    ),
    case(
        "unknown-subscription",
        "SetSubscriptionAttributes",
        [*T1, ("subscriptionName", "x"), ("notifyStrategy", "BACKOFF_RETRY")],
        4440,
        10600,
    ),
    case("strategy", "SetSubscriptionAttributes", [*S1, ("notifyStrategy", "NEVER")], 4000, 10520),
    case(
        "format", "SetSubscriptionAttributes", [*WEB, ("notifyContentFormat", "XML")], 4000, 10530
    ),
    case(
        "queue-json",
        "SetSubscriptionAttributes",
        [*S1, ("notifyContentFormat", "JSON")],
        4000,
        10640,
    ),
    case(
        "too-many-filter-tags",
        "SetSubscriptionAttributes",
        [*S1, *numbered("filterTag", 6)],
        4000,
        10670,
    ),
    case("filter-tag-empty", "SetSubscriptionAttributes", [*S1, ("filterTag.1", "")], 4000, 10670),
    case(
        "filter-tag-gap",
        "SetSubscriptionAttributes",
        [*S1, ("filterTag.0", "a"), ("filterTag.2", "b")],
        4000,
        10380,
    ),
    case(
        "too-many-binding-keys",
        "SetSubscriptionAttributes",
        [*S2, *numbered("bindingKey", 6)],
        4000,
        10680,
    ),
    case(
        "binding-key-empty", "SetSubscriptionAttributes", [*S2, ("bindingKey.1", "")], 4000, 10680
    ),
    case(
        "binding-key-too-many-dots",
        "SetSubscriptionAttributes",
        [*S2, ("bindingKey.1", SIXTEEN_DOTS)],
        4000,
        10691,
    ),
    case(
        "strategy-twice",
        "SetSubscriptionAttributes",
        [*S1, ("notifyStrategy", "BACKOFF_RETRY"), ("notifyStrategy", "BACKOFF_RETRY")],
        4000,
        10330,
    ),
    case(
        "protocol-is-fixed", "SetSubscriptionAttributes", [*S1, ("protocol", "http")], 4000, 10320
    ),
    case(
        "endpoint-is-fixed", "SetSubscriptionAttributes", [*S1, ("endpoint", "other")], 4000, 10320
    ),
    # --- ClearSubscriptionFilterTags ---
    case("missing-topic", "ClearSubscriptionFilterTags", [("subscriptionName", "s1")], 4000, 10390),
    case("missing-name", "ClearSubscriptionFilterTags", T1, 4000, 10390, "subscriptionName"),
    case(
        "unknown-topic",
        "ClearSubscriptionFilterTags",
        [("topicName", "nope"), ("subscriptionName", "s1")],
        4440,
        10600,
    ),
    case(
        "unknown-subscription",
        "ClearSubscriptionFilterTags",
        [*T1, ("subscriptionName", "nope")],
        4440,
        10600,
    ),
    case("unknown-param", "ClearSubscriptionFilterTags", [*S1, ("filterTag.1", "a")], 4000, 10320),
]


@pytest.mark.parametrize(("action", "pairs", "code", "module", "mentions"), CASES)
def test_bad_input_is_refused_and_changes_nothing(
    raw: RawClient, action: str, pairs: Pairs, code: int, module: int, mentions: str
) -> None:
    before = raw.snapshot()
    raw.call(action, pairs).expect(code, module, mentions=mentions)
    assert raw.snapshot() == before


GET_CASES = [
    case(
        "too-many-tags",
        "PublishMessage",
        [*T1, ("msgBody", "x"), *numbered("msgTag", 6)],
        4000,
        10720,
    ),
    case(
        "gap",
        "BatchPublishMessage",
        [*T1, ("msgBody.0", "a"), ("msgBody.2", "c"), *TAG_A],
        4000,
        10380,
    ),
    case("queue-json", "Subscribe", subscribe(notifyContentFormat="JSON"), 4000, 10640),
    case("name", "CreateTopic", [("topicName", "1topic")], 4000, 10590),
    case(
        "unknown-subscription",
        "GetSubscriptionAttributes",
        [*T1, ("subscriptionName", "x")],
        4440,
        10600,
    ),
]


@pytest.mark.parametrize(("action", "pairs", "code", "module", "mentions"), GET_CASES)
def test_bad_input_by_get_is_refused_the_same_way(
    raw: RawClient, action: str, pairs: Pairs, code: int, module: int, mentions: str
) -> None:
    before = raw.snapshot()
    raw.call(action, pairs, method="GET").expect(code, module, mentions=mentions)
    assert raw.snapshot() == before


def test_publish_refused_for_one_subscriber_fans_out_to_nobody(raw: RawClient) -> None:
    """A batch with one oversized body publishes none of its messages, to no subscriber."""
    raw.call("SetTopicAttributes", {"topicName": "t2", "maxMsgSize": 1024}).ok()
    before = raw.snapshot()
    raw.call(
        "BatchPublishMessage",
        [*T2, ("msgBody.1", "fits"), ("msgBody.2", "x" * 1025), ("routingKey", "a.b")],
    ).expect(4400, 10230)
    assert raw.snapshot() == before
    assert before["queue sink"]["activeMsgNum"] == 0


def test_tag_and_key_limits_are_inclusive(raw: RawClient) -> None:
    """Five tags of 16 characters, a 64-byte key with 15 dots: accepted (the boundaries)."""
    tags = [(f"msgTag.{i}", f"{i}".rjust(16, "a")) for i in range(1, 5)] + [("msgTag.5", "a")]
    raw.call("PublishMessage", [*T1, ("msgBody", "x"), *tags]).ok()
    key = ".".join(["a"] + ["w"] * 15)
    assert key.count(".") == 15
    raw.call("PublishMessage", [*T2, ("msgBody", "x"), ("routingKey", "a.b")]).ok()
    raw.call(
        "Subscribe",
        [*subscribe(topicName="t2", subscriptionName="deep"), ("bindingKey.1", key.ljust(64, "z"))],
    ).ok()
    assert raw.call("GetQueueAttributes", {"queueName": "sink"}).ok()["activeMsgNum"] == 2
