"""The worker's side of the watchdog: one watchdog process per worker process, started on first
use and again if it died, told about every command group this process launches (watchdog.py).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import subprocess
import sys
import threading

from batchd.compute import watchdog

logger = logging.getLogger(__name__)

_REAP_SECONDS = 5.0


class Guard:
    """Keeps a watchdog process informed of the command groups this process has running."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._owner = 0  # the pid that started `_proc`; a forked child needs its own watchdog
        self._groups: set[int] = set()

    def add(self, pgid: int) -> None:
        """Have group `pgid` killed if this process dies; returns once the watchdog can know it.

        "Can know": the line is in the watchdog's pipe, which it reads even after we are gone.
        """
        with self._lock:
            self._groups.add(pgid)
            self._send(b"+%d\n" % pgid)

    def remove(self, pgid: int) -> None:
        """Group `pgid` is over (or no longer ours to kill)."""
        with self._lock:
            if pgid in self._groups:
                self._groups.discard(pgid)
                self._send(b"-%d\n" % pgid)

    def start(self) -> None:
        """Start the watchdog now rather than at the first command."""
        with self._lock:
            self._running_stdin()

    def pid(self) -> int | None:
        """The watchdog's pid, or None while none runs (for tests)."""
        with self._lock:
            return self._proc.pid if self._alive() and self._proc is not None else None

    def close(self) -> None:
        """Stop the watchdog: it terminates the groups still known (none, normally), then ends."""
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is not None and self._owner == os.getpid():
                _stop(proc)

    def _send(self, line: bytes) -> None:
        for _ in range(2):  # a watchdog that died is replaced once per message
            stdin = self._running_stdin()
            if stdin is None:
                break
            try:
                os.write(stdin, line)
                return
            except OSError:  # it died since the check: start another one, which learns all groups
                self._drop()
        # The attempt itself can still complete; only its protection is missing.
        logger.warning("no watchdog for the commands of worker process %d", os.getpid())

    def _running_stdin(self) -> int | None:
        if not self._alive():
            self._drop()
            try:
                self._start()
            except OSError as error:
                logger.warning("cannot start the watchdog: %s", error)
                return None
        stdin = self._proc.stdin if self._proc is not None else None
        return None if stdin is None else stdin.fileno()

    def _alive(self) -> bool:
        return self._proc is not None and self._owner == os.getpid() and self._proc.poll() is None

    def _start(self) -> None:
        # Own session: a command's `kill 0` or a signal to the worker's group cannot reach it.
        # -I -S: no site, no environment variables, no script directory on sys.path; it needs
        # the standard library only.
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", watchdog.__file__, str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._proc, self._owner = proc, os.getpid()
        if self._groups:  # a replacement: the groups its predecessor knew are still running
            assert proc.stdin is not None
            os.write(proc.stdin.fileno(), b"".join(b"+%d\n" % g for g in self._groups))

    def _drop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or self._owner != os.getpid():
            return  # a forked child leaves its parent's watchdog alone
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(timeout=_REAP_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


_shared = Guard()
atexit.register(_shared.close)


def shared() -> Guard:
    """This process's guard."""
    return _shared
