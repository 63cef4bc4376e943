"""Input that once reached an internal error answers its protocol's own code: JSON nested deeper
than any request of the APIs, and a CMQ signature with non-ASCII characters."""

from __future__ import annotations

import httpx
import pytest

from tests.api.raw import RawClient
from tests.api.tc3.harness import tc3_headers
from tests.support import RunningServer

DEEP = b'{"QueueName": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
JUST_TOO_DEEP = b'{"Job": {"Tasks": ' + b"[" * 31 + b"]" * 31 + b"}}"


@pytest.mark.parametrize(
    ("action", "version", "service"),
    [("SubmitJob", "2017-03-12", "batch"), ("CreateCmqQueue", "2020-02-17", "tdmq")],
)
@pytest.mark.parametrize("body", [DEEP, JUST_TOO_DEEP], ids=["20000-deep", "33-deep"])
def test_deeply_nested_json_answers_invalid_parameter(
    server: RunningServer, action: str, version: str, service: str, body: bytes
) -> None:
    headers = tc3_headers(action, body, host=server.host, version=version, service=service)

    answer = httpx.post(f"{server.base_url}/", content=body, headers=headers).json()["Response"]

    assert answer["Error"]["Code"] == "InvalidParameter"
    assert "deeper than 32" in answer["Error"]["Message"]
    assert httpx.get(f"{server.base_url}/healthz").status_code == 200


@pytest.mark.parametrize(
    "signature", ["签名", "é" * 28, "\udcff".encode("utf-8", "surrogatepass").decode("latin-1")]
)
def test_a_signature_with_non_ascii_characters_is_a_wrong_signature(
    server: RunningServer, signature: str
) -> None:
    with RawClient(server) as cmq:
        cmq.call("ListQueue", signature=signature).expect(4100)
