"""Every official SDK's way of signing a request to `127.0.0.1:8910` is accepted, and nothing
else is relaxed (tdmq-api.md §4). Each case is the canonical request its SDK's signer builds:

| SDK | Host header | signed `host:` | credential scope service | signed content-type |
| --- | --- | --- | --- | --- |
| Python, tccli | endpoint as given | as sent | `batch` / `tdmq` (client class) | application/json |
| Node.js | 127.0.0.1:8910 | hostname, no port | endpoint's first label: `127` | application/json |
| Java | 127.0.0.1:8910 | as sent | endpoint's first label | application/json; charset=utf-8 |
| PHP, .NET, C++ | 127.0.0.1:8910 | as sent | endpoint's first label | application/json |
| Go | 127.0.0.1:8910 | as sent | `batch` / `tdmq` (client package) | application/json |
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest

from batchd.api.tc3 import signing
from batchd.domain import errors

SECRET_ID = "AKIDvariants"
SECRET_KEY = "variant-key"
BODY = b'{"QueueName": "q"}'


def sdk_authorization(
    *, service: str, signed_host: str, content_type: str, timestamp: int, key: str = SECRET_KEY
) -> str:
    """The Authorization header an SDK sends, computed from the TC3 specification."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{content_type}\nhost:{signed_host}\n",
            "content-type;host",
            hashlib.sha256(BODY).hexdigest(),
        ]
    )
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join(
        ["TC3-HMAC-SHA256", str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )

    def step(secret: bytes, text: str) -> bytes:
        return hmac.new(secret, text.encode(), hashlib.sha256).digest()

    signing_key = step(step(step(f"TC3{key}".encode(), date), service), "tc3_request")
    signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{scope}, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )


def accepted(
    authorization: str, host: str, content_type: str, timestamp: int, api_service: str = "tdmq"
) -> bool:
    """Whether batchd's check takes the request: scope first, then the signature."""
    auth = signing.parse_authorization(authorization)
    try:
        signing.check_scope(auth, timestamp, api_service, host)
    except errors.SignatureMismatch:
        return False
    return signing.verify_tc3(
        SECRET_KEY,
        auth,
        {"content-type": content_type, "host": host},
        method="POST",
        path="/",
        query="",
        hashed_payload=signing.payload_hash(BODY, unsigned=False),
        timestamp=str(timestamp),
    )


JSON = "application/json"
JAVA_JSON = "application/json; charset=utf-8"

SDK_FORMS = {
    # sdk: (Host header as sent, signed host, service, content-type)
    "python": ("127.0.0.1:8910", "127.0.0.1:8910", "tdmq", JSON),
    "tccli": ("http://127.0.0.1:8910", "http://127.0.0.1:8910", "tdmq", JSON),
    "node": ("127.0.0.1:8910", "127.0.0.1", "127", JSON),
    "node-localhost": ("localhost:8910", "localhost", "localhost:8910", JSON),
    "java": ("127.0.0.1:8910", "127.0.0.1:8910", "127", JAVA_JSON),
    "java-localhost": ("localhost:8910", "localhost:8910", "localhost:8910", JAVA_JSON),
    "php": ("127.0.0.1:8910", "127.0.0.1:8910", "127", JSON),
    "dotnet": ("127.0.0.1:8910", "127.0.0.1:8910", "127", JSON),
    "cpp": ("127.0.0.1:8910", "127.0.0.1:8910", "127", JSON),
    "go": ("127.0.0.1:8910", "127.0.0.1:8910", "tdmq", JSON),
    "node-ipv6": ("[::1]:8910", "[::1]", "[::1]:8910", JSON),
    "behind-a-proxy-on-443": ("batchd.example.com", "https://batchd.example.com", "tdmq", JSON),
}


@pytest.mark.parametrize("sdk", sorted(SDK_FORMS))
def test_each_sdk_form_is_accepted(sdk: str) -> None:
    host, signed_host, service, content_type = SDK_FORMS[sdk]
    now = int(time.time())
    authorization = sdk_authorization(
        service=service, signed_host=signed_host, content_type=content_type, timestamp=now
    )

    assert accepted(authorization, host, content_type, now)


def test_a_dotnet_authorization_with_two_spaces_is_read() -> None:
    now = int(time.time())
    authorization = sdk_authorization(
        service="127", signed_host="127.0.0.1:8910", content_type=JSON, timestamp=now
    ).replace("TC3-HMAC-SHA256 ", "TC3-HMAC-SHA256  ")

    assert accepted(authorization, "127.0.0.1:8910", JSON, now)


@pytest.mark.parametrize(
    ("why", "change"),
    [
        ("wrong key", {"key": "not-the-key"}),
        ("service of neither the API nor the host", {"service": "cvm"}),
        ("another API's service", {"service": "batch"}),
        ("a host the request was not sent to", {"signed_host": "10.0.0.1:8910"}),
        ("another port", {"signed_host": "127.0.0.1:8911"}),
        ("another content type", {"content_type": "text/plain"}),
    ],
)
def test_anything_else_is_still_refused(why: str, change: dict[str, str]) -> None:
    now = int(time.time())
    fields = {"service": "127", "signed_host": "127.0.0.1", "content_type": JSON, "key": SECRET_KEY}
    fields.update(change)
    authorization = sdk_authorization(
        service=fields["service"],
        signed_host=fields["signed_host"],
        content_type=fields["content_type"],
        timestamp=now,
        key=fields["key"],
    )

    assert not accepted(authorization, "127.0.0.1:8910", JSON, now), why


def test_a_scope_dated_another_day_is_refused() -> None:
    now = int(time.time())
    authorization = sdk_authorization(
        service="127", signed_host="127.0.0.1", content_type=JSON, timestamp=now - 2 * 86_400
    )

    assert not accepted(authorization, "127.0.0.1:8910", JSON, now)


def test_a_tampered_body_is_refused() -> None:
    now = int(time.time())
    authorization = sdk_authorization(
        service="127", signed_host="127.0.0.1", content_type=JSON, timestamp=now
    )
    auth = signing.parse_authorization(authorization)

    assert not signing.verify_tc3(
        SECRET_KEY,
        auth,
        {"content-type": JSON, "host": "127.0.0.1:8910"},
        method="POST",
        path="/",
        query="",
        hashed_payload=signing.payload_hash(BODY + b" ", unsigned=False),
        timestamp=str(now),
    )


@pytest.mark.parametrize(
    ("host", "services"),
    [
        ("127.0.0.1:8910", {"127"}),
        ("localhost:8910", {"localhost:8910", "localhost"}),
        ("batch.example.com", {"batch"}),
        ("[::1]:8910", {"[::1]:8910", "[::1]"}),
        ("", set()),
    ],
)
def test_services_clients_derive_from_the_host(host: str, services: set[str]) -> None:
    assert signing.client_services(host) == services
