"""Message bodies in the queue view: event messages decoded from Base64 or JSON, others raw."""

from __future__ import annotations

import base64
import json

from batchd.api.console import bodies

EVENT = {
    "Events": [
        {
            "EventName": "TASK_INSTANCE_FAILED",
            "Batch": {"JobId": "job-abcdefgh", "TaskName": "t", "TaskInstanceIndex": 0},
        }
    ]
}


def test_a_base64_event_message_is_decoded() -> None:
    raw = base64.b64encode(json.dumps(EVENT).encode())

    body = bodies.decode(raw)

    assert body.raw == raw.decode()
    assert body.encoding == "base64"
    assert json.loads(body.decoded) == EVENT
    assert body.event == "TASK_INSTANCE_FAILED"
    assert body.resource == "job-abcdefgh / t / 0"


def test_a_json_event_message_is_shown_as_json() -> None:
    body = bodies.decode(json.dumps(EVENT).encode())

    assert (body.encoding, body.event) == ("json", "TASK_INSTANCE_FAILED")


def test_other_bodies_stay_raw() -> None:
    for raw in (b"hello", b"aGVsbG8=", b"\xff\xfe", b"", b"[1, 2"):
        body = bodies.decode(raw)
        assert (body.encoding, body.decoded, body.event) == ("", "", "")
    assert bodies.decode(b"\xffok").raw == "\ufffdok"
