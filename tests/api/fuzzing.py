"""Property-based fuzzing of every surface: random and mutated requests to the API 3.0 endpoint
(Batch and TDMQ), the CMQ endpoint, the console and raw HTTP, signed and unsigned.

For every request: the protocol's envelope comes back (API 3.0 and CMQ: HTTP 200, JSON, their
fields), its code is never the internal one (`InternalError`, CMQ 6000), the console answers
below 500, the server keeps serving, and a refused request stored nothing (every table's row
count and newest row are as before). `Outcomes` counts what came back, for the long run's report
(bench/fuzz.py).
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from batchd.api.cmq import signing as cmq_signing
from batchd.api.cmq.actions import ACTIONS as CMQ_ACTIONS
from batchd.api.tc3.actions import EXTENSIONS, KNOWN
from batchd.api.tdmq.actions import CMQ as TDMQ_CMQ
from batchd.store.schema import metadata
from tests.api.tc3.harness import tc3_headers
from tests.support import CREDENTIAL, RunningServer

TC3_ACTIONS = sorted(KNOWN | EXTENSIONS | TDMQ_CMQ | {"DescribeClusters"})
VERSIONS = ["2017-03-12", "2020-02-17", "2099-01-01", ""]
CMQ_NAMES = sorted(CMQ_ACTIONS)
CMQ_PARAMETERS = [
    "queueName",
    "topicName",
    "subscriptionName",
    "msgBody",
    "msgBody.1",
    "msgTag.0",
    "receiptHandle",
    "delaySeconds",
    "pollingWaitSeconds",
    "numOfMsg",
    "visibilityTimeout",
    "maxMsgSize",
    "offset",
    "limit",
    "searchWord",
    "protocol",
    "endpoint",
    "Region",
    "filterType",
]
CONSOLE_PATHS = [
    "/console/sign-in",
    "/console/queues",
    "/console/topics",
    "/console/jobs",
    "/console/jobs/submit",
    "/console/envs",
    "/console/queues/q/send",
    "/console/topics/t/publish",
]

# Text of every kind: ASCII, non-ASCII, control characters, surrogate-free unicode, and huge.
texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="ascii"), max_size=40),
    st.sampled_from(
        ["", " ", "q", "é", "队列", "\x00", "0", "-1", "99999999999999999999", "a" * 5000]
    ),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            texts | st.sampled_from(["Job", "Tasks", "QueueName", "EnvId"]), children, max_size=4
        )
    ),
    max_leaves=20,
)
deep_json = st.integers(min_value=1, max_value=3000).map(lambda n: "[" * n + "]" * n)


@dataclass
class Outcomes:
    by_surface: Counter[tuple[str, str]] = field(default_factory=Counter)
    internal: list[str] = field(default_factory=list)

    def add(self, surface: str, code: str) -> None:
        self.by_surface[(surface, code)] += 1

    def report(self) -> dict[str, Any]:
        return {
            "requests": sum(self.by_surface.values()),
            "codes": {f"{s} {c}": n for (s, c), n in sorted(self.by_surface.items())},
            "internal": self.internal,
        }


class Fingerprint:
    """Row counts and newest primary keys of every table: equal before and after a request that
    stored nothing."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def take(self) -> dict[str, tuple[int, Any]]:
        with self._engine.connect() as conn:
            found = {}
            for table in metadata.sorted_tables:
                key = next(iter(table.primary_key.columns))
                count, newest = conn.execute(
                    select(func.count(), func.max(key)).select_from(table)
                ).one()
                found[table.name] = (count, newest)
            return found


@dataclass
class Target:
    server: RunningServer
    http: httpx.Client
    fingerprint: Fingerprint
    outcomes: Outcomes


def sendable(value: str) -> bytes:
    """A header value as HTTP can carry it: UTF-8 bytes, without control characters or edge
    blanks (the HTTP server itself refuses those, before batchd sees the request)."""
    cleaned = "".join(ch for ch in value if ch == "\t" or (ord(ch) >= 32 and ch != "\x7f"))
    cleaned = cleaned.strip(" \t")
    return cleaned.encode("utf-8", "surrogatepass")


def mostly(likely: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`likely` nine times in ten: most requests should get past the first checks."""
    return st.integers(0, 9).flatmap(lambda n: other if n == 0 else likely)


def tc3_request(draw: st.DrawFn, host: str) -> tuple[dict[bytes, bytes], bytes, str]:
    action = draw(mostly(st.sampled_from(TC3_ACTIONS), texts))
    own_version = "2020-02-17" if action in TDMQ_CMQ | {"DescribeClusters"} else "2017-03-12"
    version = draw(mostly(st.just(own_version), st.sampled_from(VERSIONS)))
    body_kind = draw(st.sampled_from(["json", "deep", "raw"]))
    if body_kind == "json":
        body = json.dumps(draw(json_values), ensure_ascii=draw(st.booleans())).encode()
    elif body_kind == "deep":
        body = draw(deep_json).encode()
    else:
        body = draw(st.binary(max_size=200))
    service = "tdmq" if version == "2020-02-17" else "batch"
    headers = tc3_headers(action, body, host=host, version=version, service=service)
    mutation = draw(
        mostly(st.just("none"), st.sampled_from(["signature", "timestamp", "drop", "header"]))
    )
    if mutation == "signature":
        headers["Authorization"] = headers["Authorization"][:-4] + draw(
            st.text(alphabet="0123456789abcdefé", min_size=4, max_size=4)
        )
    elif mutation == "timestamp":
        headers["X-TC-Timestamp"] = draw(st.sampled_from(["0", "-5", "abc", "", "9" * 30]))
    elif mutation == "drop":
        headers.pop(draw(st.sampled_from(sorted(headers))))
    elif mutation == "header":
        name = draw(st.sampled_from(["X-TC-Region", "X-TC-Token", "Content-Type", "X-TC-Action"]))
        headers[name] = draw(texts)
    return {name.encode(): sendable(value) for name, value in headers.items()}, body, mutation


def cmq_request(draw: st.DrawFn, host: str) -> tuple[str, str, bool]:
    """(method, encoded parameters, signed correctly)."""
    action = draw(mostly(st.sampled_from(CMQ_NAMES), texts))
    pairs = [("Action", action)]
    pairs += draw(st.lists(st.tuples(st.sampled_from(CMQ_PARAMETERS) | texts, texts), max_size=6))
    pairs += [
        ("Nonce", str(draw(st.integers(0, 2**40)))),
        ("SecretId", draw(st.sampled_from([CREDENTIAL.secret_id, "AKIDnobody"]) | texts)),
        ("Timestamp", str(int(time.time()))),
        ("SignatureMethod", draw(st.sampled_from(["HmacSHA1", "HmacSHA256", "md5"]))),
    ]
    method = draw(st.sampled_from(["GET", "POST"]))
    good = draw(mostly(st.just(True), st.just(False)))
    if good:
        source = cmq_signing.source_string(method, host, "/v2/index.php", pairs)
        signature = cmq_signing.sign(CREDENTIAL.secret_key, source, pairs[-1][1])
    else:
        signature = draw(texts)
    pairs.append(("Signature", signature))
    return method, urllib.parse.urlencode(pairs), good


def check_tc3(target: Target, response: httpx.Response) -> str:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"] == "application/json", response.headers
    answer = response.json()["Response"]
    assert isinstance(answer["RequestId"], str)
    code = str(answer.get("Error", {}).get("Code", "0"))
    if "Error" in answer:
        assert isinstance(answer["Error"]["Message"], str)
    if code == "InternalError":
        target.outcomes.internal.append(response.text[:500])
    assert code != "InternalError", response.text[:500]
    return code


def check_cmq(target: Target, response: httpx.Response) -> str:
    assert response.status_code == 200, response.text[:300]
    answer = response.json()
    assert isinstance(answer["code"], int)
    assert isinstance(answer["message"], str)
    assert isinstance(answer["requestId"], str)
    if answer["code"] == 6000:
        target.outcomes.internal.append(response.text[:500])
    assert answer["code"] != 6000, response.text[:500]
    return str(answer["code"])
