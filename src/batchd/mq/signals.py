"""In-process wake-ups: long-polling receivers and the push dispatcher wait here, not on the DB."""

from __future__ import annotations

import asyncio
from collections import defaultdict


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Signal:
    """A versioned event: a waiter that saw version v wakes as soon as the version moves past v."""

    def __init__(self) -> None:
        self.version = 0
        self.waiters = 0
        self._futures: set[asyncio.Future[None]] = set()

    def fire(self) -> None:
        self.version += 1
        for waiter in self._futures:
            _wake(waiter)

    async def wait(self, seen_version: int, seconds: float) -> None:
        """Return when the version differs from `seen_version`, or after `seconds`."""
        if self.version != seen_version or seconds <= 0:
            return
        # A bare future and a timer, rather than asyncio.wait_for, whose Python 3.11 version can
        # swallow a cancellation that arrives as the wait ends.
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(seconds, _wake, waiter)
        self._futures.add(waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._futures.discard(waiter)


class Signals:
    """One Signal per queue (by key), plus one for the push dispatcher. Loop thread only."""

    def __init__(self) -> None:
        self._queues: defaultdict[int, Signal] = defaultdict(Signal)
        self.push = Signal()
        self.closing = False

    def close(self) -> None:
        """The server is stopping: wake every long poll so that it answers now."""
        self.closing = True
        for signal in list(self._queues.values()):
            signal.fire()

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
