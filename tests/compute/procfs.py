"""Which processes are still alive, read from /proc independently of the code under test.

Zombies count as gone: on this machine PID 1 reaps orphans only lazily (a second or two later),
so a killed orphan lingers as a zombie and `os.killpg(pgid, 0)` keeps succeeding for its group.
"""

from __future__ import annotations

import os
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()  # fields from 3 (state) on


def is_alive(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def live_group_members(pgid: int) -> list[int]:
    """Pids of the non-zombie processes whose process group is `pgid`."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(entry))
    return members


def read_pid(path: Path) -> int | None:
    """The pid a command wrote to `path`, or None while it is not (completely) written yet."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return int(text) if text.endswith("\n") else None
