"""Process-group termination, and the watchdog script that applies it when a Dask worker dies.

This module is also run as a script (``python -I -S watchdog.py WORKER_PID``), so it imports the
standard library only. The runner starts one watchdog per attempt, in a session of its own, with
a pipe on its stdin. The runner writes the process-group id of each command it launches (one
decimal number a line, ``0`` = nothing to watch) and closes the pipe when the attempt is over.
The watchdog therefore sees end-of-file in two cases: the runner closed the pipe after writing
``0`` (nothing left to do), or the kernel closed it because the worker process died, in which
case the last group written is killed. PR_SET_PDEATHSIG and a ``getppid()`` poll are backstops
for the rare case where the pipe's write end outlives the worker in some other process.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
from types import FrameType

GRACE_SECONDS = 1.0  # SIGTERM → SIGKILL; keeps a whole kill well inside the 2 s promise
_POLL_SECONDS = 0.02
_PARENT_POLL_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def live_members(pgid: int) -> list[int]:
    """Pids of the processes in group `pgid` that are not zombies (Linux /proc).

    Zombies must not count: an unreaped leader, or an orphan whose new parent reaps late or never
    (PID 1 in some containers), keeps the group id "in use" although nothing runs any more.
    Without /proc the answer is a conservative ``[pgid]`` when the group still exists.
    """
    try:
        entries = os.listdir("/proc")
    except OSError:
        return [pgid] if _group_exists(pgid) else []
    members: list[int] = []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat_file:
                stat = stat_file.read()
        except OSError:  # the process ended while we were looking
            continue
        # The command name (field 2) may contain spaces and parentheses; fields after it do not.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) >= 3 and fields[0] != b"Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(pgid: int, signum: int) -> None:
    """Send `signum` to group `pgid`, ignoring a group that is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def terminate_group(pgid: int, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM the group, wait up to `grace` seconds for it to end, then SIGKILL what is left."""
    if not live_members(pgid):
        return
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not live_members(pgid):
            return
        time.sleep(_POLL_SECONDS)
    signal_group(pgid, signal.SIGKILL)


class _WorkerDied(Exception):
    """Raised from the SIGTERM handler (the parent-death signal) to leave a blocking read."""


_interruptible = False  # only the reading phase may be interrupted; a kill in progress may not


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    if _interruptible:
        raise _WorkerDied


def _set_parent_death_signal(signum: int) -> None:
    # Fires when the thread that spawned us exits; the runner's thread blocks until the attempt
    # ends and then closes our pipe, so an early signal here always means the worker is gone.
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _read_available(fd: int, timeout: float) -> bytes | None:
    """Bytes ready on `fd` within `timeout` (b"" at end-of-file), or None when nothing came."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return None
    return os.read(fd, 4096)


def watch(worker_pid: int, fd: int = 0) -> None:
    """Follow the group ids written to `fd`; kill the last one if the worker dies first."""
    global _interruptible
    pending = b""
    pgid = 0
    worker_died = False
    _interruptible = True
    signal.signal(signal.SIGTERM, _on_sigterm)
    _set_parent_death_signal(signal.SIGTERM)
    try:
        if os.getppid() != worker_pid:  # died before the death signal was armed
            raise _WorkerDied
        while True:
            chunk = _read_available(fd, _PARENT_POLL_SECONDS)
            if chunk is None:
                if os.getppid() != worker_pid:
                    raise _WorkerDied
                continue
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            pgid = _last_group(lines, pgid)
        # End-of-file: a clean close always follows a "0" line, so a group still set means the
        # kernel closed the pipe because the worker process died.
        _interruptible = False
        worker_died = pgid != 0
    except _WorkerDied:
        _interruptible = False
        worker_died = True
        # The runner may have written a newer group just before dying: read what is left.
        with contextlib.suppress(OSError):
            while chunk := _read_available(fd, 0):
                pending += chunk
        pgid = _last_group(pending.split(b"\n"), pgid)
    if worker_died and pgid:
        terminate_group(pgid)


def _last_group(lines: list[bytes], current: int) -> int:
    for line in lines:
        if line.strip():
            current = int(line)
    return current


def main(argv: list[str]) -> int:
    """Script entry: ``watchdog.py WORKER_PID``; group ids arrive on stdin."""
    watch(int(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
