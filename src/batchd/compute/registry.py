"""The attempts this worker process knows about: running, waiting in a pack that runs here, or
stopped before they started. Kills act on this table; runners claim their attempt from it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from batchd.compute.process import Attempt

RUNNING = "running"  # the runner stops it and reports its end itself (or ended: see below)
CANCELLED = "cancelled"  # waiting in a pack here: it will never start and is not reported
UNKNOWN = "unknown"  # not here: noted, so that it never starts here either
_STOPPED_KEPT = 10_000  # stopped attempts remembered for a start that is still to come

_lock = threading.Lock()
_running: dict[str, Attempt] = {}
_waiting: dict[str, str | None] = {}  # waiting in a pack running here -> kill reason, if stopped
_stopped: OrderedDict[str, str] = OrderedDict()  # stopped before anything here knew them
_packed: set[str] = set()  # the attempts of the packs running here
_unreported: set[str] = set()  # ended here, in a pack that has not sent their end yet


def claim(key: str) -> Attempt | str:
    """The control block to run attempt `key` with, now registered as running here; or the
    reason it was stopped before it started (then it must not run at all)."""
    with _lock:
        if key in _running:
            raise RuntimeError(f"attempt {key} is already running on this worker")
        reason = _waiting.pop(key, None) or _stopped.pop(key, None)
        if reason is not None:
            return reason
        attempt = Attempt(key)
        _running[key] = attempt
        return attempt


def release(key: str) -> None:
    """Attempt `key` has ended here (in a pack: its end is reported by `reported`)."""
    with _lock:
        _running.pop(key, None)
        if key in _packed:
            _unreported.add(key)


def expect(keys: Iterable[str]) -> None:
    """The attempts of a pack that starts here: stoppable from now on, until they are claimed."""
    with _lock:
        for key in keys:
            _waiting.setdefault(key, None)
            _packed.add(key)


def reported(keys: Iterable[str]) -> None:
    """The ends of these attempts of a pack have been sent."""
    with _lock:
        _unreported.difference_update(keys)


def forget(keys: Iterable[str]) -> None:
    """The pack of `keys` has ended here (its result carries the ends it could not send)."""
    with _lock:
        for key in keys:
            _waiting.pop(key, None)
            _packed.discard(key)
            _unreported.discard(key)


def kill(key: str, reason: str) -> bool:
    """Stop attempt `key` if it is running here; False if it is not."""
    with _lock:
        attempt = _running.get(key)
    if attempt is None:
        return False
    attempt.request_kill(reason)
    return True


def stop_all(reason: str) -> int:
    """Stop every attempt running or waiting in this process; how many there were."""
    with _lock:
        running = list(_running.values())
        for key in _waiting:
            _waiting[key] = _waiting[key] or reason
        waiting = len(_waiting)
    for attempt in running:
        attempt.request_kill(reason)
    return len(running) + waiting


def stop(key: str, reason: str) -> str:
    """Stop attempt `key` wherever it is in this process: RUNNING, CANCELLED or UNKNOWN.

    An attempt that has ended here, its end not reported yet, answers RUNNING: its end is on
    its way, and no other report of it may come first.
    """
    with _lock:
        attempt = _running.get(key)
        if attempt is None and key in _unreported:
            return RUNNING
        if attempt is None:
            if key in _waiting:
                _waiting[key] = _waiting[key] or reason
                return CANCELLED
            _stopped[key] = reason
            while len(_stopped) > _STOPPED_KEPT:
                _stopped.popitem(last=False)
            return UNKNOWN
    attempt.request_kill(reason)
    return RUNNING
