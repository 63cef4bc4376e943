"""Running one command of an attempt in its own process group: deadline, kill switch, watchdog."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from batchd.compute import watchdog

_POLL_SECONDS = 0.05  # how quickly the end of a command is noticed (a kill wakes us at once)
_REAP_SECONDS = 10.0


class Attempt:
    """Control block of one running attempt, shared by the runner thread and `kill_instance`.

    The lock orders "launch a command" against "kill the attempt", so a kill can neither slip in
    between the check and the launch nor signal a group whose leader has already been reaped.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pgid: int | None = None
        self._kill_reason: str | None = None

    @property
    def kill_reason(self) -> str | None:
        """The reason of the first kill request, or None while nobody asked to stop."""
        return self._kill_reason

    def request_kill(self, reason: str) -> None:
        """Ask the attempt to stop: SIGTERM the running group now, the runner escalates."""
        with self._lock:
            if self._kill_reason is None:
                self._kill_reason = reason
            if self._pgid is not None:
                watchdog.signal_group(self._pgid, signal.SIGTERM)
        self._wake.set()

    def run(
        self,
        argv: list[str],
        *,
        cwd: str,
        env: dict[str, str],
        stdout: IO[bytes],
        stderr: IO[bytes],
        deadline: float,
        guard: Watchdog,
        on_start: Callable[[float], None] | None = None,
    ) -> Outcome:
        """Run `argv` in a new session; stop it at `deadline` (monotonic) or on a kill request.

        `on_start` is called with the launch time (time.time()) once the process exists.

        However the leader ends, every process still left in its group is terminated before the
        leader is reaped, so an instance never leaves background processes behind.
        """
        # The command waits at a gate until the watchdog knows its group: a worker that dies
        # in between leaves nothing running, since the gate then reads end-of-file and exits.
        gate_read, gate_write = os.pipe()
        try:
            with self._lock:
                if self.kill_reason is not None:
                    return Outcome(None, self.kill_reason, None)
                proc = subprocess.Popen(
                    ["/bin/sh", "-c", _GATE, "batchd-gate", *argv],
                    cwd=cwd,
                    env=env,
                    stdin=gate_read,
                    stdout=stdout,
                    stderr=stderr,
                    start_new_session=True,  # pgid == pid: one signal reaches the whole tree
                )
                started_at = time.time()
                self._pgid = proc.pid
            guard.watch(proc.pid)
            os.write(gate_write, b"go\n")
        finally:
            os.close(gate_read)
            os.close(gate_write)
        if on_start is not None:
            on_start(started_at)
        stopped_by: str | None = None
        while not _has_exited(proc.pid):
            if self.kill_reason is not None:
                stopped_by = self.kill_reason
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                stopped_by = "TIMEOUT"
                break
            self._wake.wait(min(remaining, _POLL_SECONDS))
        # The leader is still unreaped here (a zombie at worst), which keeps the group id ours.
        watchdog.terminate_group(proc.pid)
        with self._lock:
            self._pgid = None
            if stopped_by is None and self.kill_reason is not None:
                stopped_by = self.kill_reason  # the kill raced the command's own end
        guard.watch(0)
        try:
            returncode = proc.wait(timeout=_REAP_SECONDS)
        except subprocess.TimeoutExpired:  # stuck in uninterruptible sleep; Popen reaps it later
            returncode = None
        return Outcome(None if stopped_by else returncode, stopped_by, started_at)


# Runs before the command, in its process: wait for the go on stdin, then become the command
# with stdin from /dev/null (exec keeps the pid, so the group the watchdog knows is its own).
_GATE = 'IFS= read -r _ || exit 125; exec "$@" </dev/null'


class Watchdog:
    """A small separate process that kills the watched group if this process dies."""

    def __init__(self) -> None:
        # Own session: a command's `kill 0` or a signal to the worker's group cannot reach it.
        # -I -S: no site, no environment variables, no script directory on sys.path; it needs
        # the standard library only and starts in a few milliseconds.
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", watchdog.__file__, str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )

    def watch(self, pgid: int) -> None:
        """Make `pgid` the group to kill if this process dies; 0 means none."""
        stdin = self._proc.stdin
        if stdin is None:
            return
        # A dead watchdog cannot protect anything; the attempt itself can still complete.
        with contextlib.suppress(BrokenPipeError, ValueError):
            stdin.write(f"{pgid}\n".encode())
            stdin.flush()

    def close(self) -> None:
        """Tell the watchdog there is nothing left to guard, and reap it."""
        self.watch(0)
        if self._proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=_REAP_SECONDS)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one command ended: its exit status, or who stopped it."""

    returncode: (
        int | None
    )  # as Popen reports it (negative = killed by that signal); None if stopped
    stopped_by: str | None  # "TIMEOUT" or the kill reason; None when the command ended by itself
    started_at: float | None  # time.time() at launch; None if it was never launched


def _has_exited(pid: int) -> bool:
    """Whether child `pid` has ended, without reaping it (WNOWAIT)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # already reaped by someone else
        return True
    return info is not None
