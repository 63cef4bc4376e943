"""Authentication of /v2/index.php: signature, keys, timestamps, nonces, Host, Region.

cmq-api.md §1.2 (common parameters), §1.3 (signature), §1.5 (4100 codes). Every refused request
must leave the service untouched.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.raw import RawClient
from tests.support import OTHER_CREDENTIAL, RunningServer

CREATE = {"queueName": "fresh"}


@pytest.fixture
def raw(server: RunningServer) -> Iterator[RawClient]:
    with RawClient(server) as raw:
        yield raw


def queue_names(raw: RawClient, region: str | None = None) -> list[str]:
    listed = raw.call("ListQueue", {"limit": 50}, region=region).ok()
    return [item["queueName"] for item in listed["queueList"]]


def assert_nothing_created(raw: RawClient) -> None:
    assert queue_names(raw) == []
    raw.call("GetQueueAttributes", CREATE).expect(4440, 10100)


# --- missing and refused credentials ---------------------------------------------------------


@pytest.mark.parametrize("name", ["Signature", "SecretId", "Timestamp", "Nonce"])
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_missing_common_parameter_is_refused(raw: RawClient, name: str, method: str) -> None:
    raw.call("CreateQueue", CREATE, method=method, drop={name}).expect(4000, 10390, mentions=name)
    assert_nothing_created(raw)


@pytest.mark.parametrize("name", ["Signature", "SecretId", "Timestamp", "Nonce"])
def test_empty_common_parameter_is_refused(raw: RawClient, name: str) -> None:
    answer = raw.call("CreateQueue", CREATE, drop={name}, unsigned=[(name, "")])
    answer.expect(4000, 10390, mentions=name)
    assert_nothing_created(raw)


def now() -> int:
    return int(time.time())


REFUSED: list[Any] = [
    pytest.param({"signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}, 4100, 10030, id="garbage"),
    pytest.param({"secret_key": "not-the-key"}, 4100, 10030, id="wrong-key"),
    pytest.param(
        {"secret_key": OTHER_CREDENTIAL.secret_key}, 4100, 10030, id="another-accounts-key"
    ),
    pytest.param({"secret_id": "AKIDnobody"}, 4100, 10270, id="unknown-secret-id"),
    pytest.param(
        {"secret_id": OTHER_CREDENTIAL.secret_id, "secret_key": OTHER_CREDENTIAL.secret_key},
        4100,
        10270,
        id="unconfigured-key-pair",
    ),
    pytest.param({"timestamp": -360}, 4100, 10030, id="timestamp-stale"),
    pytest.param({"timestamp": 360}, 4100, 10030, id="timestamp-future"),
    pytest.param({"timestamp": "0"}, 4100, 10030, id="timestamp-zero"),
    pytest.param({"timestamp": "-1"}, 4100, 10030, id="timestamp-negative"),
    pytest.param({"timestamp": str(10**30)}, 4100, 10030, id="timestamp-huge"),
    pytest.param({"timestamp": "soon"}, 4000, 10360, id="timestamp-not-int"),
    pytest.param({"params": [("Token", "temporary")]}, 4100, 10030, id="token-signed"),
    pytest.param({"unsigned": [("Token", "")]}, 4100, 10030, id="token-empty"),
    pytest.param({"sign_as": "PUT"}, 4100, 10030, id="signed-for-other-method"),
    pytest.param({"sign_path": "/v2/other.php"}, 4100, 10030, id="signed-for-other-path"),
    pytest.param({"sign_host": "127.0.0.1"}, 4100, 10030, id="signed-without-port"),
    pytest.param({"sign_host": "cmq.example.com"}, 4100, 10030, id="signed-for-other-host"),
    pytest.param({"unsigned": [("maxMsgSize", "2048")]}, 4100, 10030, id="param-added"),
    pytest.param({"unsigned": [("Region", "ap-shanghai")]}, 4100, 10030, id="region-added"),
    pytest.param({"drop": {"RequestClient"}}, 4100, 10030, id="param-removed"),
    pytest.param({"unsigned": [("Signature", "x")]}, 4000, 10330, id="signature-twice"),
    pytest.param({"unsigned": [("Nonce", "7")]}, 4000, 10330, id="nonce-twice"),
]


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize(("how", "code", "module"), REFUSED)
def test_refused_request_does_nothing(
    raw: RawClient, how: dict[str, Any], code: int, module: int, method: str
) -> None:
    options = dict(how)
    params = [("queueName", "fresh"), *options.pop("params", [])]
    if isinstance(options.get("timestamp"), int):
        options["timestamp"] = now() + options["timestamp"]
    raw.call("CreateQueue", params, method=method, **options).expect(code, module)
    assert_nothing_created(raw)


@pytest.mark.parametrize("label", ["HmacSHA1", None])
def test_sha256_signature_not_labelled_sha256_is_refused(raw: RawClient, label: str | None) -> None:
    pairs = [*raw.common("CreateQueue", sign_method=label), ("queueName", "fresh")]
    signature = raw.signature(pairs, sign_method="HmacSHA256")
    raw.send("POST", [*pairs, ("Signature", signature)]).expect(4100, 10030)
    assert_nothing_created(raw)


def test_sha1_signature_labelled_sha256_is_refused(raw: RawClient) -> None:
    pairs = [*raw.common("CreateQueue", sign_method="HmacSHA256"), ("queueName", "fresh")]
    signature = raw.signature(pairs, sign_method="HmacSHA1")
    raw.send("POST", [*pairs, ("Signature", signature)]).expect(4100, 10030)
    assert_nothing_created(raw)


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_parameter_changed_after_signing_is_refused(raw: RawClient, method: str) -> None:
    pairs = [*raw.common("CreateQueue"), ("queueName", "signed")]
    signature = raw.signature(pairs, method=method)
    sent = [(key, "fresh" if key == "queueName" else value) for key, value in pairs]
    raw.send(method, [*sent, ("Signature", signature)]).expect(4100, 10030)
    assert_nothing_created(raw)


# --- accepted signatures ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("sign_method", ["HmacSHA1", "HmacSHA256", None, "HmacMD5"])
def test_signature_methods_are_accepted(
    raw: RawClient, method: str, sign_method: str | None
) -> None:
    """HmacSHA256 is SHA-256; absent or any other value is SHA-1 (§1.2)."""
    queue_id = raw.call("CreateQueue", CREATE, method=method, sign_method=sign_method).ok()
    assert queue_id["queueId"]
    assert queue_names(raw) == ["fresh"]


@pytest.mark.parametrize("offset", [-290, 290])
def test_timestamp_within_five_minutes_is_accepted(raw: RawClient, offset: int) -> None:
    raw.call("CreateQueue", CREATE, timestamp=now() + offset).ok()
    assert queue_names(raw) == ["fresh"]


def test_unsigned_query_parameter_on_post_is_refused(raw: RawClient) -> None:
    """A POST's query string is part of the request: it must be signed too."""
    pairs = [*raw.common("CreateQueue"), ("queueName", "fresh")]
    pairs.append(("Signature", raw.signature(pairs)))
    raw.send("POST", pairs, query=[("maxMsgSize", "2048")]).expect(4100, 10030)
    assert_nothing_created(raw)


def test_signed_query_parameter_on_post_is_used(raw: RawClient) -> None:
    body = [*raw.common("CreateQueue"), ("queueName", "fresh")]
    query = [("maxMsgSize", "2048")]
    signature = raw.signature(body + query)
    raw.send("POST", [*body, ("Signature", signature)], query=query).ok()
    attributes = raw.call("GetQueueAttributes", CREATE).ok()
    assert attributes["maxMsgSize"] == 2048


# --- nonces ----------------------------------------------------------------------------------


def test_replayed_request_is_refused(raw: RawClient) -> None:
    raw.call("CreateQueue", CREATE).ok()
    nonce, timestamp = 424242, now()
    send = {"queueName": "fresh", "msgBody": "once"}
    raw.call("SendMessage", send, nonce=nonce, timestamp=timestamp).ok()
    before = raw.snapshot()
    raw.call("SendMessage", send, nonce=nonce, timestamp=timestamp).expect(4100, 10030)
    raw.call("SendMessage", send, nonce=nonce, timestamp=timestamp, method="GET").expect(
        4100, 10030
    )
    assert raw.snapshot() == before
    assert before["queue fresh"]["activeMsgNum"] == 1


def test_replayed_nonce_refused_even_after_a_failed_action(raw: RawClient) -> None:
    nonce, timestamp = 515151, now()
    raw.call("GetQueueAttributes", CREATE, nonce=nonce, timestamp=timestamp).expect(4440, 10100)
    raw.call("CreateQueue", CREATE, nonce=nonce, timestamp=timestamp).expect(4100, 10030)
    assert_nothing_created(raw)


def test_same_nonce_with_another_timestamp_is_accepted(raw: RawClient) -> None:
    timestamp = now()
    raw.call("CreateQueue", {"queueName": "a"}, nonce=99, timestamp=timestamp).ok()
    raw.call("CreateQueue", {"queueName": "b"}, nonce=99, timestamp=timestamp - 1).ok()
    assert sorted(queue_names(raw)) == ["a", "b"]


def test_refused_signature_does_not_use_up_the_nonce(raw: RawClient) -> None:
    """Otherwise anyone could burn a client's next nonce with a forged request."""
    nonce, timestamp = 777, now()
    raw.call("CreateQueue", CREATE, nonce=nonce, timestamp=timestamp, secret_key="forged").expect(
        4100, 10030
    )
    raw.call("CreateQueue", CREATE, nonce=nonce, timestamp=timestamp).ok()
    assert queue_names(raw) == ["fresh"]


# --- the '@' exclusion (§1.3 step 2) ---------------------------------------------------------


def test_post_at_value_is_not_signed(raw: RawClient) -> None:
    raw.call("CreateQueue", CREATE).ok()
    raw.call("SendMessage", {"queueName": "fresh", "msgBody": "@hello"}).ok()
    got = raw.call("ReceiveMessage", {"queueName": "fresh", "pollingWaitSeconds": 0}).ok()
    assert got["msgBody"] == "@hello"


def test_post_at_value_in_signature_is_refused(raw: RawClient) -> None:
    raw.call("CreateQueue", CREATE).ok()
    before = raw.snapshot()
    raw.call("SendMessage", {"queueName": "fresh", "msgBody": "@hello"}, include_at=True).expect(
        4100, 10030
    )
    assert raw.snapshot() == before


def test_get_at_value_is_signed(raw: RawClient) -> None:
    raw.call("CreateQueue", CREATE).ok()
    before = raw.snapshot()
    # Signed as a POST would be (without the '@' value), sent as GET: refused.
    raw.call(
        "SendMessage", {"queueName": "fresh", "msgBody": "@hello"}, method="GET", sign_as="POST"
    ).expect(4100, 10030)
    assert raw.snapshot() == before
    raw.call("SendMessage", {"queueName": "fresh", "msgBody": "@hello"}, method="GET").ok()
    got = raw.call("ReceiveMessage", {"queueName": "fresh", "pollingWaitSeconds": 0}).ok()
    assert got["msgBody"] == "@hello"


def test_batch_at_values_are_excluded_one_by_one(raw: RawClient) -> None:
    raw.call("CreateQueue", CREATE).ok()
    bodies = [("msgBody.1", "@a"), ("msgBody.2", "b"), ("msgBody.3", "@c")]
    answer = raw.call("BatchSendMessage", [("queueName", "fresh"), *bodies]).ok()
    assert len(answer["msgList"]) == 3


# --- Host header (§1.3 step 5) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("host_header", "signed_host", "accepted"),
    [
        ("cmq.example.com", "cmq.example.com", True),
        ("cmq.example.com", "cmq.example.com:80", True),
        ("cmq.example.com:80", "cmq.example.com", True),
        ("cmq.example.com:443", "cmq.example.com", True),
        ("cmq.example.com", "cmq.example.com:443", True),
        ("cmq.example.com:8080", "cmq.example.com", False),
        ("cmq.example.com", "cmq.example.com:8080", False),
        ("cmq.example.com:80", "cmq.example.com:443", False),
        ("cmq.example.com", "other.example.com", False),
        ("cmq.example.com", "CMQ.example.com", False),
    ],
)
def test_host_header_with_and_without_default_port(
    raw: RawClient, host_header: str, signed_host: str, accepted: bool
) -> None:
    answer = raw.call("CreateQueue", CREATE, sign_host=signed_host, headers={"Host": host_header})
    if accepted:
        answer.ok()
        assert queue_names(raw) == ["fresh"]
    else:
        answer.expect(4100, 10030)
        assert_nothing_created(raw)


# --- Region scoping --------------------------------------------------------------------------


def test_resources_are_scoped_by_region(raw: RawClient) -> None:
    shanghai = "ap-shanghai"
    raw.call("CreateQueue", CREATE, region=shanghai).ok()
    raw.call("CreateTopic", {"topicName": "news"}, region=shanghai).ok()
    assert queue_names(raw) == []
    assert queue_names(raw, region="ap-guangzhou") == []  # the server's default region
    assert queue_names(raw, region=shanghai) == ["fresh"]
    raw.call("GetQueueAttributes", CREATE).expect(4440, 10100)
    raw.call("SendMessage", {"queueName": "fresh", "msgBody": "x"}).expect(4440, 10100)
    raw.call("DeleteQueue", CREATE).expect(4440, 10100)
    raw.call("GetTopicAttributes", {"topicName": "news"}).expect(4440, 10600)
    assert raw.call("ListTopic").ok()["totalCount"] == 0
    # The same name is free in the default region.
    raw.call("CreateQueue", CREATE).ok()
    raw.call("SendMessage", {"queueName": "fresh", "msgBody": "x"}, region=shanghai).ok()
    shanghai_attributes = raw.call("GetQueueAttributes", CREATE, region=shanghai).ok()
    default_attributes = raw.call("GetQueueAttributes", CREATE).ok()
    assert shanghai_attributes["activeMsgNum"] == 1
    assert default_attributes["activeMsgNum"] == 0
    assert shanghai_attributes["queueId"] != default_attributes["queueId"]
