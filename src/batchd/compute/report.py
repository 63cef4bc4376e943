"""The messages runners send on the worker's event topic as attempts start and end, and their
decoding on the backend's side. Messages are plain dicts (Dask's log_event needs msgpack); a pack
sends several in one (`batch`), since every message costs the worker, the scheduler and the
backend a round of handling however small it is.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from batchd.compute.instance import InstanceResult

if TYPE_CHECKING:
    from distributed import Worker

logger = logging.getLogger(__name__)

TOPIC = "batchd-instance"
RUNNING = "running"  # the first command of the attempt was launched
FINISHED = "finished"  # the attempt ended with a result
FAILED = "failed"  # the runner itself failed; no result
BATCH = "batch"  # several messages sent as one


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


def batch(messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One message carrying `messages` (a single one goes as it is)."""
    return messages[0] if len(messages) == 1 else {BATCH: list(messages)}


def unbatch(message: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    """The messages a message carries: those of a batch, or itself."""
    # Dask's msgpack hands a list over as a tuple.
    if isinstance(message, Mapping) and isinstance(message.get(BATCH), (list, tuple)):
        return message[BATCH]  # type: ignore[no-any-return]
    return [message]


def send(worker: Worker | None, message: dict[str, Any]) -> bool:
    """Send `message` on the worker's TOPIC; False outside a worker or when the worker closes
    (a closing worker must not take the running command or the pack with it)."""
    if worker is None:
        return False
    try:
        worker.log_event(TOPIC, message)
    except Exception as error:
        keys = ", ".join(str(item.get("key")) for item in unbatch(message))
        logger.warning("cannot send the reports of %s: %s", keys, error)
        return False
    return True


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
