"""Process-group termination, and the watchdog script that applies it when a Dask worker dies.

This module is also run as a script (``python -I -S watchdog.py WORKER_PID``), so it imports the
standard library only. Each worker process starts one watchdog (guard.py), in a session of its
own, with a pipe on its stdin, and writes one line per change: ``+PGID`` before a command in
group PGID may start, ``-PGID`` once that group is gone. End-of-file means the worker process is
gone (a clean exit closes the pipe too): every group still known is then terminated.
PR_SET_PDEATHSIG and a ``getppid()`` poll are backstops for the rare case where the pipe's write
end outlives the worker in some other process.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
from collections.abc import Collection
from types import FrameType

GRACE_SECONDS = 1.0  # SIGTERM → SIGKILL; keeps a whole kill well inside the 2 s promise
_POLL_SECONDS = 0.02
_KILLED_WAIT_SECONDS = 0.5  # after SIGKILL, for the kernel to end the processes
_PARENT_POLL_SECONDS = 0.5
_BATCH_SECONDS = 0.05
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_NEAR_FORKS = 256  # at most this many processes created since launch: probe pid by pid
_NEAR_SPAN = 1024  # ... over at most this many pids; else read all of /proc


def fork_count() -> int | None:
    """How many processes and threads the kernel has created since boot (None without /proc)."""
    try:
        stat = _read("/proc/stat")
    except OSError:
        return None
    start = stat.find(b"\nprocesses ")
    if start < 0:
        return None
    return int(stat[start + 11 : stat.index(b"\n", start + 1)])


def live_members(pgid: int, since: int | None = None) -> list[int]:
    """Pids of the processes in group `pgid` that are not zombies (Linux /proc).

    Zombies must not count: an unreaped leader, or an orphan whose new parent reaps late or never
    (PID 1 in some containers), keeps the group id "in use" although nothing runs any more.
    `since` is `fork_count()` from before the leader was created: when few processes were created
    since, only the pids given out after the leader's are read, instead of every process.
    Without /proc the answer is a conservative ``[pgid]`` when the group still exists.
    """
    if since is not None:
        near = _members_near(pgid, since)
        if near is not None:
            return near
    scanned = _scan()
    if scanned is None:
        return [pgid] if _group_exists(pgid) else []
    return [pid for pid, group in scanned if group == pgid]


def live_groups(pgids: Collection[int]) -> set[int]:
    """Those of `pgids` that still have a member that is not a zombie (see `live_members`)."""
    if not pgids:
        return set()
    scanned = _scan()
    if scanned is None:
        return {pgid for pgid in pgids if _group_exists(pgid)}
    return {group for _, group in scanned if group in pgids}


def _scan() -> list[tuple[int, int]] | None:
    """(pid, process group) of every process that is not a zombie; None without /proc."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    found = []
    for entry in entries:
        if entry.isdigit():
            group = _live_group_of(int(entry))
            if group is not None:
                found.append((int(entry), group))
    return found


def _members_near(pgid: int, since: int) -> list[int] | None:
    # Every member was created after its leader, and pids are given out in increasing order
    # until they wrap round: with few forks since the leader's launch and no wrap (the last pid
    # is still above the leader's), the members are among the pids from the leader's to the last.
    forks = fork_count()
    try:
        last_pid = int(_read("/proc/loadavg").split()[-1])
        pid_max = int(_read("/proc/sys/kernel/pid_max"))
    except (OSError, ValueError, IndexError):
        return None
    if forks is None or forks - since > min(_NEAR_FORKS, pid_max // 2):
        return None
    if not 0 <= last_pid - pgid <= _NEAR_SPAN:
        return None
    members = []
    for pid in range(pgid, last_pid + 1):
        if _live_group_of(pid) == pgid:
            members.append(pid)
    return members


def _live_group_of(pid: int) -> int | None:
    """The process group of `pid`, or None if it does not exist or is a zombie."""
    try:
        stat = _read(f"/proc/{pid}/stat")
    except OSError:  # the process ended while we were looking
        return None
    # The command name (field 2) may contain spaces and parentheses; fields after it do not.
    fields = stat[stat.rfind(b")") + 2 :].split()
    if len(fields) < 3 or fields[0] == b"Z":
        return None
    return int(fields[2])


def _read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 65536)
    finally:
        os.close(fd)


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


def terminate_group(pgid: int, grace: float = GRACE_SECONDS, since: int | None = None) -> None:
    """SIGTERM the group, wait up to `grace` seconds for it to end, then SIGKILL what is left.

    `since`: see `live_members`.
    """
    if live_members(pgid, since):
        _terminate({pgid}, grace)


def terminate_groups(pgids: Collection[int], grace: float = GRACE_SECONDS) -> None:
    """`terminate_group` for several groups at once, all within one grace."""
    _terminate(live_groups(set(pgids)), grace)


def _terminate(groups: set[int], grace: float) -> None:
    if not groups:
        return
    for pgid in groups:
        signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while groups and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        groups = live_groups(groups)
    for pgid in groups:
        signal_group(pgid, signal.SIGKILL)
    # SIGKILL cannot be caught, yet dying takes the kernel a moment (longer on a busy machine):
    # return once the groups are gone, so that callers never see a member still alive.
    deadline = time.monotonic() + _KILLED_WAIT_SECONDS
    while groups and time.monotonic() < deadline:
        time.sleep(0.005)
        groups = live_groups(groups)


def _set_parent_death_signal(signum: int) -> None:
    # Fires when the thread that spawned us exits, not only the process: `watch` then checks
    # whether its parent process really changed.
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _ignore(signum: int, frame: FrameType | None) -> None:
    """The parent-death signal only wakes `watch` up (through the wakeup fd)."""


def watch(worker_pid: int, fd: int = 0) -> None:
    """Follow the groups announced on `fd`; terminate those still known when the worker dies."""
    groups: set[int] = set()
    pending = b""
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGTERM, _ignore)
    _set_parent_death_signal(signal.SIGTERM)
    while os.getppid() == worker_pid:  # a dead worker's children are adopted by someone else
        ready, _, _ = select.select([fd, wake_read], [], [], _PARENT_POLL_SECONDS)
        if wake_read in ready:
            os.read(wake_read, 512)
        if fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            pending = _apply(groups, pending + chunk)
            # Lines only need to be in the pipe, which is read to the end before any kill: take
            # them in batches rather than waking up twice for every command.
            time.sleep(_BATCH_SECONDS)
    # The worker may have announced a group just before dying: take what is still in the pipe.
    os.set_blocking(fd, False)
    with contextlib.suppress(OSError):
        while chunk := os.read(fd, 65536):
            pending = _apply(groups, pending + chunk)
    terminate_groups(groups)


def _apply(groups: set[int], data: bytes) -> bytes:
    """Apply the complete lines of `data` to `groups`; the incomplete rest."""
    *lines, rest = data.split(b"\n")
    for line in lines:
        line = line.strip()
        if line.startswith(b"+"):
            groups.add(int(line[1:]))
        elif line.startswith(b"-"):
            groups.discard(int(line[1:]))
    return rest


def main(argv: list[str]) -> int:
    """Script entry: ``watchdog.py WORKER_PID``; group changes arrive on stdin."""
    watch(int(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
