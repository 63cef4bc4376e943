"""RecordingEvents: a ClusterEvents that keeps every report a backend makes, in order."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from batchd.compute.instance import InstanceResult


@dataclass(frozen=True)
class Finished:
    key: str
    result: InstanceResult | None
    error: str


@dataclass
class RecordingEvents:
    joined: list[str] = field(default_factory=list)  # node ids
    left: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)  # attempt keys, in report order
    finished: list[Finished] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)  # ("running" or "end", key)

    def node_joined(self, env_id: str, node_id: str, address: str) -> None:
        self.joined.append(node_id)

    def node_left(self, env_id: str, node_id: str, address: str) -> None:
        self.left.append(node_id)

    def node_failed(self, env_id: str, node_id: str, error: str) -> None:
        self.failed.append(node_id)

    def instance_running(self, key: str, node_id: str, started_at: float) -> None:
        self.running.append(key)
        self.log.append(("running", key))

    def instance_finished(self, key: str, result: InstanceResult | None, error: str) -> None:
        self.finished.append(Finished(key, result, error))
        self.log.append(("end", key))

    def end_of(self, key: str) -> Finished:
        """The one end reported for `key` (fails if there were several)."""
        (end,) = [item for item in self.finished if item.key == key]
        return end

    def finish_counts(self) -> Counter[str]:
        return Counter(item.key for item in self.finished)

    def has_ended(self, *keys: str) -> bool:
        ended = {item.key for item in self.finished}
        return all(key in ended for key in keys)


async def eventually(predicate: Callable[[], bool], within: float = 30.0) -> None:
    """Poll `predicate` on the event loop until it holds, failing after `within` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.02)
