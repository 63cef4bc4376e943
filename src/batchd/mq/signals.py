"""In-process wake-ups: long-polling receivers and the push dispatcher wait here, not on the DB."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from batchd.store.wakeups import Hub


def _wake(waiter: asyncio.Future[bool], fired: bool) -> None:
    if not waiter.done():
        waiter.set_result(fired)


class Signal:
    """A versioned event: a waiter that saw version v wakes once the version moves past v.

    A fire for `visible` new messages wakes waiters in the order they came, until the messages
    they take (`takes`: a batch receive counts for as many as it asks) cover them; the others
    keep waiting, so N waiting receivers cost a send one wake-up, not N (each of which would try a
    receive through the writer). A fire without a count wakes everyone. A waiter cancelled after
    its wake-up (its client went away) passes the wake-up on to the next.
    """

    def __init__(self) -> None:
        self.version = 0
        self.waiters = 0
        self._futures: dict[asyncio.Future[bool], int] = {}  # in arrival order: FIFO wake-ups

    def fire(self, visible: int | None = None) -> None:
        self.version += 1
        self._wake_for(visible)

    def _wake_for(self, visible: int | None) -> None:
        left = visible
        for waiter, takes in list(self._futures.items()):
            if left is not None and left <= 0:
                return
            if waiter.done():
                continue
            _wake(waiter, True)
            if left is not None:
                left -= takes

    async def wait(self, seen_version: int, seconds: float, takes: int = 1) -> None:
        """Return when woken for messages after `seen_version`, or after `seconds`."""
        if self.version != seen_version or seconds <= 0:
            return
        # A bare future and a timer, rather than asyncio.wait_for, whose Python 3.11 version can
        # swallow a cancellation that arrives as the wait ends.
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        timer = loop.call_later(seconds, _wake, waiter, False)
        self._futures[waiter] = takes
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self._wake_for(takes)  # woken, but gone before it received: the next one
            raise
        finally:
            timer.cancel()
            self._futures.pop(waiter, None)


class Signals:
    """One Signal per queue (by key), plus one for the push dispatcher. Loop thread only."""

    def __init__(self) -> None:
        self._queues: defaultdict[int, Signal] = defaultdict(Signal)
        self.push = Signal()
        self.closing = False

    def attach(self, hub: Hub) -> None:
        """Wake for the announcements of commits, this replica's and the others'."""
        hub.on("queue", self._queue_announced)
        hub.on("push", self.push.fire)
        hub.on_resync(self.wake_all)

    def _queue_announced(self, queue_pk: str, visible: str = "") -> None:
        self.queue_changed(int(queue_pk), int(visible) if visible else None)

    def wake_all(self) -> None:
        """Something may have changed anywhere: every waiter looks again."""
        for signal in list(self._queues.values()):
            signal.fire()
        self.push.fire()

    def close(self) -> None:
        """The server is stopping: wake every long poll so that it answers now."""
        self.closing = True
        self.wake_all()

    def queue(self, queue_pk: int) -> Signal:
        return self._queues[queue_pk]

    def queue_changed(self, queue_pk: int, visible: int | None = None) -> None:
        """`visible` messages became visible in the queue (None: an unknown number)."""
        signal = self._queues.get(queue_pk)
        if signal is not None:
            signal.fire(visible)
            if signal.waiters == 0:
                del self._queues[queue_pk]

    def release(self, queue_pk: int) -> None:
        signal = self._queues.get(queue_pk)
        if signal is not None and signal.waiters == 0:
            del self._queues[queue_pk]
