"""In-process wake-ups: long-polling receivers and the push dispatcher wait here, not on the DB."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict


class Signal:
    """A versioned event: a waiter that saw version v wakes as soon as the version moves past v."""

    def __init__(self) -> None:
        self.version = 0
        self.waiters = 0
        self._event = asyncio.Event()

    def fire(self) -> None:
        self.version += 1
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seen_version: int, seconds: float) -> None:
        """Return when the version differs from `seen_version`, or after `seconds`."""
        if self.version != seen_version or seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)


class Signals:
    """One Signal per queue (by key), plus one for the push dispatcher. Loop thread only."""

    def __init__(self) -> None:
        self._queues: defaultdict[int, Signal] = defaultdict(Signal)
        self.push = Signal()

    def queue(self, queue_pk: int) -> Signal:
        return self._queues[queue_pk]

    def queue_changed(self, queue_pk: int) -> None:
        signal = self._queues.get(queue_pk)
        if signal is not None:
            signal.fire()
            if signal.waiters == 0:
                del self._queues[queue_pk]

    def release(self, queue_pk: int) -> None:
        signal = self._queues.get(queue_pk)
        if signal is not None and signal.waiters == 0:
            del self._queues[queue_pk]
