"""The messages runners send on the worker's event topic as attempts start and end, and their
decoding on the backend's side. Messages are plain dicts (Dask's log_event needs msgpack).
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from batchd.compute.instance import InstanceResult

TOPIC = "batchd-instance"
RUNNING = "running"  # the first command of the attempt was launched
FINISHED = "finished"  # the attempt ended with a result
FAILED = "failed"  # the runner itself failed; no result


@dataclass(frozen=True, slots=True)
class Report:
    """One decoded message."""

    key: str
    state: str
    node_id: str = ""
    started_at: float = 0.0
    result: InstanceResult | None = None
    error: str = ""


def running(key: str, node_id: str, started_at: float) -> dict[str, Any]:
    return {"key": key, "state": RUNNING, "node_id": node_id, "started_at": started_at}


def finished(result: InstanceResult) -> dict[str, Any]:
    # One opaque value: the worker's comm walks every value of a message to size it, per message.
    return {"key": result.key, "state": FINISHED, "result": pickle.dumps(result)}


def failed(key: str, error: str) -> dict[str, Any]:
    return {"key": key, "state": FAILED, "error": error}


def parse(message: Mapping[str, Any]) -> Report | None:
    """The report in `message`, or None when it is none of ours."""
    if not isinstance(message, Mapping):
        return None
    key, state = message.get("key"), message.get("state")
    if not isinstance(key, str):
        return None
    if state == RUNNING:
        return Report(key, state, str(message["node_id"]), started_at=float(message["started_at"]))
    if state == FINISHED:
        # Pickled by a worker this backend started itself, like every Dask result it receives.
        result = pickle.loads(message["result"])
        return Report(key, state, result=result) if isinstance(result, InstanceResult) else None
    if state == FAILED:
        return Report(key, state, error=str(message["error"]))
    return None
