"""Message bodies for reading: event messages decoded from their Base64 (events.md §4.1)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from batchd.api import json_text
from batchd.domain import errors


@dataclass(frozen=True, slots=True)
class Body:
    raw: str  # the body as stored (what a receiver gets), undecodable bytes replaced
    encoding: str  # "base64" (decoded), "json" (sent as JSON), or "" (plain text)
    decoded: str  # pretty JSON when the body is (Base64 of) JSON, else ""
    event: str  # EventName of a batchd event message, else ""
    resource: str  # the job, task instance, env or node the event is about, else ""


def decode(body: bytes) -> Body:
    raw = body.decode("utf-8", errors="replace")
    text = raw.strip()
    parsed = _json(text)
    encoding = "json" if parsed is not None else ""
    if parsed is None and text:
        try:
            parsed = _json(base64.b64decode(text, validate=True).decode("utf-8"))
        except (binascii.Error, ValueError):
            parsed = None
        encoding = "base64" if parsed is not None else ""
    if parsed is None:
        return Body(raw, "", "", "", "")
    event, resource = _event(parsed)
    pretty = json.dumps(parsed, indent=2, ensure_ascii=False, sort_keys=False)
    return Body(raw, encoding, pretty, event, resource)


def _json(text: str) -> Any:
    if not text.startswith(("{", "[")):
        return None
    try:
        return json_text.loads(text)
    except errors.MalformedBody:  # shown raw
        return None


def _event(parsed: Any) -> tuple[str, str]:
    """(EventName, what it is about) of the first event of an events.md §3.1 envelope."""
    events = parsed.get("Events") if isinstance(parsed, dict) else None
    if not isinstance(events, list) or not events or not isinstance(events[0], dict):
        return "", ""
    first = events[0]
    return str(first.get("EventName", "")), about(first.get("Batch"))


def about(batch: object) -> str:
    """What an event's `Batch` object is about: `job-… / task / 3`, `env-… / node-…`."""
    if not isinstance(batch, dict):
        return ""
    keys = ("JobId", "TaskName", "TaskInstanceIndex", "EnvId", "ComputeNodeId")
    return " / ".join(str(batch[k]) for k in keys if k in batch and batch[k] not in ("", None))
