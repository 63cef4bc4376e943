"""Raw, signed CMQ requests: send any parameters (malformed ones too) and read the envelope.

The signature is computed exactly like the official SDK (cmq-api.md §1.3) with batchd's own
`signing.source_string` / `signing.sign`, so tests can also sign deliberately wrong things.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import time
import urllib.parse
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from batchd.api.cmq import signing
from tests.support import RunningServer

PATH = "/v2/index.php"
SDK_CLIENT = "SDK_Python_1.3"

Pairs = list[tuple[str, str]]
ParamsArg = Mapping[str, object] | Sequence[tuple[str, object]]

_MODULE = re.compile(r"\((\d+)\)")
_nonces = itertools.count(random.randint(1, 1_000_000_000))


def next_nonce() -> int:
    return next(_nonces)


def as_pairs(params: ParamsArg) -> Pairs:
    items = params.items() if isinstance(params, Mapping) else params
    return [(key, str(value)) for key, value in items]


@dataclass(frozen=True)
class Answer:
    """One HTTP answer of /v2/index.php."""

    status: int
    content_type: str
    text: str

    @property
    def body(self) -> dict[str, Any]:
        data = json.loads(self.text)
        assert isinstance(data, dict), self.text
        return data

    @property
    def code(self) -> int:
        return int(self.body["code"])

    @property
    def message(self) -> str:
        return str(self.body["message"])

    @property
    def module(self) -> int | None:
        match = _MODULE.match(self.message)
        return int(match[1]) if match else None

    def check_envelope(self) -> dict[str, Any]:
        """HTTP 200, JSON, and the three envelope fields (cmq-api.md §1.4)."""
        assert self.status == 200, f"HTTP {self.status}: {self.text[:500]}"
        media_type = self.content_type.split(";")[0].strip()
        assert media_type == "application/json", self.content_type
        body = self.body
        assert isinstance(body.get("code"), int), body
        assert isinstance(body.get("message"), str), body
        assert isinstance(body.get("requestId"), str), body
        assert body["requestId"], body
        return body

    def expect(self, code: int, module: int | None = None, *, mentions: str = "") -> None:
        body = self.check_envelope()
        assert body["code"] == code, body
        if module is not None:
            assert self.module == module, body
            assert self.message.startswith(f"({module})"), body
        assert mentions in self.message, body

    def ok(self) -> dict[str, Any]:
        self.expect(0)
        assert self.message == ""
        return self.body


class RawClient:
    """Builds, signs and sends CMQ requests over plain HTTP."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.host = server.host
        self.secret_id = server.credential.secret_id
        self.secret_key = server.credential.secret_key
        self.http = httpx.Client(base_url=server.base_url, timeout=60)

    def __enter__(self) -> RawClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # --- building -----------------------------------------------------------------------------

    def common(
        self,
        action: str | None,
        *,
        region: str | None = None,
        sign_method: str | None = "HmacSHA1",
        secret_id: str | None = None,
        timestamp: int | str | None = None,
        nonce: int | str | None = None,
    ) -> Pairs:
        pairs: Pairs = []
        if action is not None:
            pairs.append(("Action", action))
        pairs += [
            ("Nonce", str(next_nonce() if nonce is None else nonce)),
            ("RequestClient", SDK_CLIENT),
            ("SecretId", self.secret_id if secret_id is None else secret_id),
            ("Timestamp", str(int(time.time()) if timestamp is None else timestamp)),
        ]
        if sign_method is not None:
            pairs.append(("SignatureMethod", sign_method))
        if region is not None:
            pairs.append(("Region", region))
        return pairs

    def signature(
        self,
        pairs: Pairs,
        *,
        method: str = "POST",
        host: str | None = None,
        path: str = PATH,
        secret_key: str | None = None,
        sign_method: str | None = "HmacSHA1",
        include_at: bool = False,
    ) -> str:
        """The SDK's signature of `pairs`; `include_at` signs '@' values on POST as well."""
        host = self.host if host is None else host
        if include_at and method.upper() == "POST":
            source = "POST" + signing.source_string("GET", host, path, pairs)[3:]
        else:
            source = signing.source_string(method, host, path, pairs)
        key = self.secret_key if secret_key is None else secret_key
        return signing.sign(key, source, sign_method)

    # --- sending ------------------------------------------------------------------------------

    def call(
        self,
        action: str | None,
        params: ParamsArg = (),
        *,
        method: str = "POST",
        region: str | None = None,
        sign_method: str | None = "HmacSHA1",
        secret_id: str | None = None,
        secret_key: str | None = None,
        timestamp: int | str | None = None,
        nonce: int | str | None = None,
        sign_host: str | None = None,
        sign_path: str = PATH,
        sign_as: str | None = None,
        include_at: bool = False,
        drop: Collection[str] = (),
        unsigned: ParamsArg = (),
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """Sign and send one request.

        `drop` leaves common parameters (or `Signature`) out after signing; `unsigned` adds
        parameters after signing; `sign_as`/`sign_host`/`sign_path`/`secret_key` sign something
        other than what is sent.
        """
        pairs = self.common(
            action,
            region=region,
            sign_method=sign_method,
            secret_id=secret_id,
            timestamp=timestamp,
            nonce=nonce,
        )
        pairs += as_pairs(params)
        if signature is None:
            signature = self.signature(
                pairs,
                method=sign_as or method,
                host=sign_host,
                path=sign_path,
                secret_key=secret_key,
                sign_method=sign_method,
                include_at=include_at,
            )
        pairs.append(("Signature", signature))
        pairs = [(key, value) for key, value in pairs if key not in drop]
        pairs += as_pairs(unsigned)
        return self.send(method, pairs, headers=headers)

    def send(
        self,
        method: str,
        pairs: Pairs,
        *,
        headers: Mapping[str, str] | None = None,
        query: Pairs | None = None,
    ) -> Answer:
        """Send `pairs` as the SDK does: GET in the query, POST as a form body without
        Content-Type; `query` adds a query string to a POST."""
        encoded = urllib.parse.urlencode(pairs)
        if method.upper() == "GET":
            return self.request("GET", f"{PATH}?{encoded}", headers=headers)
        url = PATH if query is None else f"{PATH}?{urllib.parse.urlencode(query)}"
        return self.request(method, url, content=encoded.encode("utf-8"), headers=headers)

    def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        response = self.http.request(method, url, content=content, headers=headers)
        return Answer(response.status_code, response.headers.get("content-type", ""), response.text)

    # --- state --------------------------------------------------------------------------------

    def snapshot(self, region: str | None = None) -> dict[str, Any]:
        """Every queue, topic and subscription with all attributes and counters."""
        state: dict[str, Any] = {}

        def get(action: str, params: Mapping[str, object]) -> dict[str, Any]:
            body = self.call(action, params, region=region).ok()
            body.pop("requestId")
            return body

        queues = get("ListQueue", {"limit": 50})
        state["queues"] = queues
        for item in queues["queueList"]:
            name = item["queueName"]
            state[f"queue {name}"] = get("GetQueueAttributes", {"queueName": name})
        topics = get("ListTopic", {"limit": 50})
        state["topics"] = topics
        for item in topics["topicList"]:
            topic = item["topicName"]
            state[f"topic {topic}"] = get("GetTopicAttributes", {"topicName": topic})
            subscriptions = get("ListSubscriptionByTopic", {"topicName": topic, "limit": 100})
            state[f"subscriptions {topic}"] = subscriptions
            for sub in subscriptions["subscriptionList"]:
                name = sub["subscriptionName"]
                state[f"subscription {topic}/{name}"] = get(
                    "GetSubscriptionAttributes", {"topicName": topic, "subscriptionName": name}
                )
        return state
