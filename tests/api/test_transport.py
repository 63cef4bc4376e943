"""Transport of /v2/index.php: methods, bodies, sizes, parameter names, and odd input that must
never make the server fail (cmq-api.md §1.1, §1.4, §1.5)."""

from __future__ import annotations

import contextlib
import socket
import time
import urllib.parse
from collections.abc import Iterator

import httpx
import pytest

from tests.api.raw import PATH, Answer, Pairs, RawClient
from tests.support import RunningServer

ONE_MB = 1024 * 1024


@pytest.fixture
def raw(server: RunningServer) -> Iterator[RawClient]:
    with RawClient(server) as raw:
        yield raw


def signed(raw: RawClient, action: str, params: Pairs, method: str = "POST") -> Pairs:
    pairs = raw.common(action) + params
    return [*pairs, ("Signature", raw.signature(pairs, method=method))]


def form(pairs: Pairs) -> bytes:
    return urllib.parse.urlencode(pairs).encode("utf-8")


def assert_no_queues(raw: RawClient) -> None:
    assert raw.call("ListQueue").ok()["totalCount"] == 0


# --- methods ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_refused(raw: RawClient, method: str) -> None:
    pairs = signed(raw, "CreateQueue", [("queueName", "q")], method=method)
    raw.request(method, PATH, content=form(pairs)).expect(4000, 10410, mentions=method)
    raw.request(method, f"{PATH}?{urllib.parse.urlencode(pairs)}").expect(4000, 10410)
    assert_no_queues(raw)


def test_head_does_nothing(raw: RawClient) -> None:
    pairs = signed(raw, "CreateQueue", [("queueName", "q")], method="HEAD")
    answer = raw.request("HEAD", f"{PATH}?{urllib.parse.urlencode(pairs)}")
    assert answer.status == 200
    assert answer.content_type.startswith("application/json")
    assert_no_queues(raw)


# --- bodies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON"]
)
def test_json_body_is_refused(raw: RawClient, content_type: str) -> None:
    pairs = signed(raw, "CreateQueue", [("queueName", "q")])
    raw.request("POST", PATH, content=form(pairs), headers={"Content-Type": content_type}).expect(
        4000, 10420
    )
    json_body = httpx.Request("POST", "http://x", json=dict(pairs)).read()
    raw.request("POST", PATH, content=json_body, headers={"Content-Type": content_type}).expect(
        4000, 10420
    )
    assert_no_queues(raw)


@pytest.mark.parametrize(
    "content_type",
    [None, "application/x-www-form-urlencoded", "text/plain", "application/octet-stream"],
)
def test_form_body_is_read_whatever_the_content_type(
    raw: RawClient, content_type: str | None
) -> None:
    """The SDK sends no Content-Type at all (§1.1)."""
    pairs = signed(raw, "CreateQueue", [("queueName", "q")])
    headers = {} if content_type is None else {"Content-Type": content_type}
    raw.request("POST", PATH, content=form(pairs), headers=headers).ok()
    assert raw.call("ListQueue").ok()["totalCount"] == 1


def test_json_body_without_content_type_is_not_understood(raw: RawClient) -> None:
    json_body = httpx.Request("POST", "http://x", json={"Action": "CreateQueue"}).read()
    answer = raw.request("POST", PATH, content=json_body)
    answer.expect(4000)
    assert_no_queues(raw)


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe", b"Action=CreateQueue&queueName=\xe9", b"queueName=%ff%fe", b"a=%C3%28"],
    ids=["binary", "latin-1", "percent-invalid", "percent-truncated"],
)
def test_undecodable_body_is_refused(raw: RawClient, body: bytes) -> None:
    raw.request("POST", PATH, content=body).expect(4000, 10420)
    assert_no_queues(raw)


def test_undecodable_query_is_refused(raw: RawClient) -> None:
    raw.request("GET", f"{PATH}?queueName=%ff").expect(4000, 10420)
    assert_no_queues(raw)


# --- sizes (request ≤ 1 MB) ------------------------------------------------------------------


def test_request_over_one_megabyte_is_refused(raw: RawClient) -> None:
    raw.call("CreateQueue", {"queueName": "big", "maxMsgSize": ONE_MB}).ok()
    before = raw.snapshot()
    body = "x" * (ONE_MB + 1)
    raw.call("SendMessage", {"queueName": "big", "msgBody": body}).expect(4000, 10420)
    assert raw.snapshot() == before


def test_chunked_request_over_one_megabyte_is_refused(raw: RawClient) -> None:
    raw.call("CreateQueue", {"queueName": "big", "maxMsgSize": ONE_MB}).ok()
    before = raw.snapshot()
    content = form(signed(raw, "SendMessage", [("queueName", "big"), ("msgBody", "x" * ONE_MB)]))

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(content), 65_536):
            yield content[start : start + 65_536]

    response = raw.http.post(PATH, content=chunks())
    answer = Answer(response.status_code, response.headers.get("content-type", ""), response.text)
    answer.expect(4000, 10420)
    assert raw.snapshot() == before


def http_exchange(base_url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes over one connection; (status, headers, body) of the answer."""
    host, port = urllib.parse.urlsplit(base_url).netloc.split(":")
    received = b""
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        with contextlib.suppress(OSError):  # the server may answer before reading it all
            sock.sendall(request)
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65_536):
                received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def test_oversized_get_never_answers_500(raw: RawClient) -> None:
    """httpx will not even build such a URL: send the request line by hand. uvicorn itself
    refuses request lines over 64 KB with a plain HTTP 400 before batchd sees them; anything
    that reaches batchd over 1 MB is 4000/10420."""
    raw.call("CreateQueue", {"queueName": "big", "maxMsgSize": ONE_MB}).ok()
    before = raw.snapshot()
    body = "x" * (ONE_MB + 1)
    pairs = signed(raw, "SendMessage", [("queueName", "big"), ("msgBody", body)], "GET")
    request = (
        f"GET {PATH}?{urllib.parse.urlencode(pairs)} HTTP/1.1\r\n"
        f"Host: {raw.host}\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    status, headers, answer = http_exchange(raw.server.base_url, request)
    assert status < 500
    if status == 200:
        Answer(status, headers.get("content-type", ""), answer.decode()).expect(4000, 10420)
    assert raw.snapshot() == before


def test_request_just_under_one_megabyte_is_accepted(raw: RawClient) -> None:
    raw.call("CreateQueue", {"queueName": "big", "maxMsgSize": ONE_MB}).ok()
    raw.call("SendMessage", {"queueName": "big", "msgBody": "x" * (ONE_MB - 1024)}).ok()
    got = raw.call("ReceiveMessage", {"queueName": "big", "pollingWaitSeconds": 0}).ok()
    assert len(got["msgBody"]) == ONE_MB - 1024


def test_large_get_is_accepted(raw: RawClient) -> None:
    """A GET with a 60 KB message (the SDK may be switched to GET)."""
    raw.call("CreateQueue", {"queueName": "q"}).ok()
    raw.call("SendMessage", {"queueName": "q", "msgBody": "y" * 60_000}, method="GET").ok()


# --- actions and parameter names -------------------------------------------------------------


@pytest.mark.parametrize("name", ["Nope", "createQueue", "CREATEQUEUE", "", "Create Queue"])
def test_unknown_action_is_refused(raw: RawClient, name: str) -> None:
    raw.call(name, {"queueName": "q"}).expect(4000, 10430)
    assert_no_queues(raw)


def test_missing_action_is_refused(raw: RawClient) -> None:
    raw.call(None, {"queueName": "q"}).expect(4000, 10390, mentions="Action")
    assert_no_queues(raw)


def test_parameter_names_match_the_first_letter_in_either_case(raw: RawClient) -> None:
    """`queueName` = `QueueName`; common parameters too (§ preamble)."""
    pairs = [
        ("action", "CreateQueue"),
        ("nonce", "31337"),
        ("secretId", raw.secret_id),
        ("timestamp", str(int(time.time()))),
        ("QueueName", "q"),
        ("VisibilityTimeout", "7"),
    ]
    pairs.append(("signature", raw.signature(pairs)))
    raw.send("POST", pairs).ok()
    assert raw.call("GetQueueAttributes", {"queueName": "q"}).ok()["visibilityTimeout"] == 7


def test_same_parameter_in_two_spellings_is_not_repeatable(raw: RawClient) -> None:
    raw.call("CreateQueue", [("queueName", "a"), ("QueueName", "b")]).expect(4000, 10330)
    assert_no_queues(raw)


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("queue_name", 10320),  # a well-formed name batchd does not know
        ("queueName_", 10320),
        ("queue.name", 10310),
        ("queueName.", 10310),
        (".queueName", 10310),
        ("queueName..1", 10310),
        ("queueName.1.2", 10310),
        ("queue-name", 10310),
        ("1x", 10310),
        ("x y", 10310),
        ("msgBody[]", 10310),
        ("_queueName", 10310),
        ("", 10310),
    ],
)
def test_odd_parameter_names_are_refused(raw: RawClient, name: str, module: int) -> None:
    raw.call("CreateQueue", [("queueName", "q"), (name, "1")]).expect(4000, module)
    assert_no_queues(raw)


@pytest.mark.parametrize(
    "name", ["UserpollingWaitSeconds", "Version", "Language", "clientRequestId"]
)
def test_tolerated_extra_parameters(raw: RawClient, name: str) -> None:
    raw.call("CreateQueue", [("queueName", "q"), (name, "x")]).ok()


# --- fuzz: odd values never make the server fail ---------------------------------------------

ODD_VALUES = [
    "",
    " ",
    "\t\n",
    "队列",
    "🙂",
    "\u202eevil",
    "\ufeffq",
    "a\x00b",
    "\x00",
    "%",
    "%zz",
    "+",
    "@",
    "&",
    "=",
    "'; DROP TABLE queues; --",
    '"',
    "\\",
    "../../etc/passwd",
    "<script>",
    "-1",
    "-0",
    "+7",
    "0x1F",
    "1e3",
    "1.0",
    "NaN",
    "Infinity",
    "١٢",
    "²",
    "1_000",
    str(2**31),
    str(2**63),
    str(-(2**63) - 1),
    "9" * 400,
    "9" * 5000,
    "a" * 60_000,
    "q" * 65,
]

SLOTS: list[tuple[str, Pairs, str]] = [
    ("CreateQueue", [], "queueName"),
    ("CreateQueue", [("queueName", "fz1")], "maxMsgSize"),
    ("CreateQueue", [("queueName", "fz2")], "visibilityTimeout"),
    ("CreateQueue", [("queueName", "fz3"), ("deadLetterQueueName", "q")], "maxReceiveCount"),
    ("CreateQueue", [("queueName", "fz4")], "deadLetterQueueName"),
    ("SetQueueAttributes", [("queueName", "q")], "rewindSeconds"),
    ("GetQueueAttributes", [], "queueName"),
    ("DeleteQueue", [], "queueName"),
    ("ListQueue", [], "searchWord"),
    ("ListQueue", [], "offset"),
    ("ListQueue", [], "limit"),
    ("RewindQueue", [("queueName", "q")], "startConsumeTime"),
    ("SendMessage", [("queueName", "q")], "msgBody"),
    ("SendMessage", [("queueName", "q"), ("msgBody", "m")], "delaySeconds"),
    ("BatchSendMessage", [("queueName", "q"), ("msgBody.0", "m")], "msgBody.1"),
    ("ReceiveMessage", [("queueName", "q")], "pollingWaitSeconds"),
    ("BatchReceiveMessage", [("queueName", "q")], "numOfMsg"),
    ("DeleteMessage", [("queueName", "q")], "receiptHandle"),
    ("BatchDeleteMessage", [("queueName", "q")], "receiptHandle.1"),
    ("CreateTopic", [], "topicName"),
    ("CreateTopic", [("topicName", "fz5")], "filterType"),
    ("SetTopicAttributes", [("topicName", "t")], "maxMsgSize"),
    ("GetTopicAttributes", [], "topicName"),
    ("ListTopic", [], "searchWord"),
    ("PublishMessage", [("topicName", "t"), ("msgBody", "m")], "msgTag.1"),
    ("PublishMessage", [("topicName", "t"), ("msgBody", "m")], "routingKey"),
    ("BatchPublishMessage", [("topicName", "t")], "msgBody.1"),
    (
        "Subscribe",
        [("topicName", "t"), ("protocol", "http"), ("endpoint", "http://h/")],
        "subscriptionName",
    ),
    (
        "Subscribe",
        [("topicName", "t"), ("subscriptionName", "fz6"), ("protocol", "http")],
        "endpoint",
    ),
    (
        "Subscribe",
        [
            ("topicName", "t"),
            ("subscriptionName", "fz7"),
            ("protocol", "queue"),
            ("notifyContentFormat", "SIMPLIFIED"),
        ],
        "endpoint",
    ),
    (
        "Subscribe",
        [
            ("topicName", "t"),
            ("subscriptionName", "fz8"),
            ("protocol", "queue"),
            ("endpoint", "q"),
            ("notifyContentFormat", "SIMPLIFIED"),
        ],
        "filterTag.1",
    ),
    (
        "Subscribe",
        [("topicName", "t"), ("subscriptionName", "fz9"), ("protocol", "queue"), ("endpoint", "q")],
        "notifyContentFormat",
    ),
    ("Unsubscribe", [("topicName", "t")], "subscriptionName"),
    ("ListSubscriptionByTopic", [("topicName", "t")], "searchWord"),
    ("ListSubscriptionByTopic", [("topicName", "t")], "offset"),
    ("GetSubscriptionAttributes", [("topicName", "t")], "subscriptionName"),
    (
        "SetSubscriptionAttributes",
        [("topicName", "t"), ("subscriptionName", "s")],
        "notifyStrategy",
    ),
    ("SetSubscriptionAttributes", [("topicName", "t"), ("subscriptionName", "s")], "bindingKey.1"),
    ("ClearSubscriptionFilterTags", [("topicName", "t")], "subscriptionName"),
]


@pytest.mark.parametrize(
    "value",
    ODD_VALUES,
    ids=[f"{i}-{v[:12].encode('unicode_escape').decode()}" for i, v in enumerate(ODD_VALUES)],
)
def test_odd_values_never_fail_the_server(raw: RawClient, value: str) -> None:
    raw.call("CreateQueue", {"queueName": "q"}).ok()
    raw.call("CreateTopic", {"topicName": "t"}).ok()
    raw.call(
        "Subscribe",
        {"topicName": "t", "subscriptionName": "s", "protocol": "http", "endpoint": "http://h/"},
    ).ok()
    failures = []
    for action, base, slot in SLOTS:
        for method in ("POST", "GET"):
            answer = raw.call(action, [*base, (slot, value)], method=method)
            body = answer.check_envelope()
            if body["code"] == 6000 or body["message"].startswith("(10050)"):
                failures.append(f"{action} {slot} {method}: {body['message']}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("value", ["", "\x00", "队列", "9" * 5000, "-1", "a" * 2000])
def test_odd_common_parameter_values_never_fail_the_server(raw: RawClient, value: str) -> None:
    for name in ("Nonce", "Timestamp", "SecretId", "SignatureMethod", "Region", "Action"):
        answer = raw.call("ListQueue", drop={name}, unsigned=[(name, value)])
        body = answer.check_envelope()
        assert body["code"] in (4000, 4100), (name, body)


@pytest.mark.parametrize(
    "region", ["\x00", "ap-\x00", "区域", "a" * 65, "a" * 1000, "../etc", "ap-shanghai ", "a.b"]
)
def test_malformed_region_is_refused(raw: RawClient, region: str) -> None:
    for action, params in [
        ("CreateQueue", {"queueName": "q"}),
        ("ListQueue", {}),
        ("CreateTopic", {"topicName": "t"}),
        ("ListTopic", {}),
    ]:
        raw.call(action, params, region=region).expect(4000, 10350, mentions="Region")
    assert_no_queues(raw)
    assert raw.call("ListTopic").ok()["totalCount"] == 0


def test_empty_region_is_the_default_region(raw: RawClient) -> None:
    raw.call("CreateQueue", {"queueName": "q"}, region="").ok()
    assert raw.call("ListQueue", region="ap-guangzhou").ok()["totalCount"] == 1
