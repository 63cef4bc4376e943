"""Running one command of an attempt in its own process group: deadline, kill switch, watchdog."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from batchd.compute import guard as guards
from batchd.compute import watchdog
from batchd.compute.logs import LazyLog

_POLL_SECONDS = 0.05  # how quickly a kill or a deadline is noticed at the latest
# A command still running after this long is announced as running; one that has ended by then
# is not: its end reports its start as well, which saves every short attempt one message.
ANNOUNCE_SECONDS = 0.005
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
        command: str | list[str],
        *,
        cwd: str,
        env: dict[str, str],
        stdout: LazyLog,
        stderr: LazyLog,
        deadline: float,
        on_start: Callable[[float], None] | None = None,
        user: int | None = None,
    ) -> Outcome:
        """Run `command` in a new session; stop it at `deadline` (monotonic) or on a kill request.

        A string is a shell command, run as by ``/bin/sh -c``; a list is a program and its
        arguments. `on_start` is called with the launch time (time.time()) once the command has
        run for ANNOUNCE_SECONDS, and not at all if it ends (or is stopped) sooner. With `user`,
        the command runs under that user and group id, with no supplementary groups.

        However the leader ends, every process still left in its group is terminated before the
        leader is reaped, so an instance never leaves background processes behind.
        """
        guard = guards.shared()
        # The command waits at a gate until the watchdog knows its group: a worker that dies
        # in between leaves nothing running, since the gate then reads end-of-file and exits.
        gate_read, gate_write = os.pipe()
        try:
            with self._lock:
                if self.kill_reason is not None:
                    return Outcome(None, self.kill_reason, None)
                forks = watchdog.fork_count()
                argv, by_popen = _as_user(_gated(command), user)
                proc = subprocess.Popen(
                    argv,
                    cwd=cwd,
                    env=env,
                    stdin=gate_read,
                    stdout=stdout.write_fd,
                    stderr=stderr.write_fd,
                    start_new_session=True,  # pgid == pid: one signal reaches the whole tree
                    user=by_popen,
                    group=by_popen,
                    extra_groups=None if by_popen is None else [],
                )
                started_at = time.time()
                self._pgid = proc.pid
            guard.add(proc.pid)
            os.write(gate_write, b"go\n")
        finally:
            os.close(gate_read)
            os.close(gate_write)
        logs = (stdout, stderr)
        announce = None if on_start is None else partial(on_start, started_at)
        stopped_by = self._wait(proc.pid, deadline, logs, announce)
        # The leader is still unreaped here (a zombie at worst), which keeps the group id ours.
        watchdog.terminate_group(proc.pid, since=forks)
        for log in logs:  # the group is gone: what it wrote is all in the pipes
            log.copy_available()
        with self._lock:
            self._pgid = None
            if stopped_by is None and self.kill_reason is not None:
                stopped_by = self.kill_reason  # the kill raced the command's own end
        guard.remove(proc.pid)
        try:
            returncode = proc.wait(timeout=_REAP_SECONDS)
        except subprocess.TimeoutExpired:  # stuck in uninterruptible sleep; Popen reaps it later
            returncode = None
        return Outcome(None if stopped_by else returncode, stopped_by, started_at)

    def _wait(
        self,
        pid: int,
        deadline: float,
        logs: tuple[LazyLog, ...],
        announce: Callable[[], None] | None,
    ) -> str | None:
        """Wait for the leader to end (None), a kill request (its reason) or the deadline,
        copying the command's output to its log files meanwhile; `announce` once the command
        has run for ANNOUNCE_SECONDS."""
        announce_at = time.monotonic() + ANNOUNCE_SECONDS
        with _ExitWatch(pid, logs) as watch:
            while True:
                if self.kill_reason is not None:
                    return self.kill_reason
                now = time.monotonic()
                if announce is not None and now >= announce_at:
                    announce()
                    announce = None
                remaining = deadline - now
                if remaining <= 0:
                    return "TIMEOUT"
                timeout = min(remaining, _POLL_SECONDS)
                if announce is not None:
                    timeout = min(timeout, announce_at - now)
                if watch.wait(timeout, self._wake):
                    return None


# Runs before the command, in its process: wait for the go on stdin, then become the command
# with stdin from /dev/null (exec keeps the pid, so the group the watchdog knows is its own).
_GATE = 'IFS= read -r _ || exit 125; exec "$@" </dev/null'
# The same for a shell command, run by the gate's shell itself: one exec of a shell fewer per
# command. `set --` first, so the command sees no arguments and $0 is /bin/sh, as with sh -c.
_SHELL_GATE = (
    'IFS= read -r batchd_gate || exit 125; unset batchd_gate; exec </dev/null; eval "set --; $1"'
)


SETPRIV = shutil.which("setpriv")  # util-linux


def _as_user(argv: list[str], user: int | None) -> tuple[list[str], int | None]:
    """`argv` run under user and group id `user`, with no supplementary groups: the command
    line, and the id Popen itself must switch to (None: none, or setpriv does it).

    By exec'ing setpriv in the child: Popen's own `user=` makes CPython fork instead of vfork,
    and a fork of a worker holding hundreds of MB cost 40+ ms a command where setpriv costs one
    small exec (measured: 3.5 ms against 47 ms in a 300 MB process on a loaded machine).
    """
    if user is None or SETPRIV is None:
        return argv, user
    ids = [f"--reuid={user}", f"--regid={user}", "--clear-groups"]
    return [SETPRIV, *ids, "--", *argv], None


def _gated(command: str | list[str]) -> list[str]:
    if isinstance(command, str):
        return ["/bin/sh", "-c", _SHELL_GATE, "/bin/sh", command]
    return ["/bin/sh", "-c", _GATE, "batchd-gate", *command]


class _ExitWatch:
    """Waits for a child to end without reaping it: on its pidfd, else by polling; copies what
    arrives on the log pipes while it waits."""

    def __init__(self, pid: int, logs: tuple[LazyLog, ...]) -> None:
        self._pid = pid
        self._fd: int | None = None
        self._backoff = 0.001
        self._logs = {log.read_fd: log for log in logs}

    def __enter__(self) -> _ExitWatch:
        with contextlib.suppress(AttributeError, OSError):  # no pidfd before Linux 5.3
            self._fd = os.pidfd_open(self._pid)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)

    def wait(self, timeout: float, wake: threading.Event) -> bool:
        """Whether the child has ended, after waiting up to `timeout` (less if `wake` is set)."""
        if self._fd is not None:
            # A kill is seen at the next timeout at the latest; its SIGTERM usually ends the
            # command first, which wakes us at once.
            return self._fd in self._select([self._fd, *self._logs], timeout)
        if _has_exited(self._pid):
            return True
        # Short commands are common: look again soon, then less and less often.
        if wake.is_set():
            return _has_exited(self._pid)
        self._select(list(self._logs), min(timeout, self._backoff))
        self._backoff = min(self._backoff * 2, _POLL_SECONDS)
        return _has_exited(self._pid)

    def _select(self, fds: list[int], timeout: float) -> list[int]:
        ready, _, _ = select.select(fds, [], [], timeout)
        for fd in ready:
            if fd in self._logs:
                self._logs[fd].copy_available()
        return ready


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
