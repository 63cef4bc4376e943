"""Processes as /proc shows them: their CPU time, their descendants, which of those still run."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def ticks_to_seconds(ticks: int) -> float:
    return ticks / os.sysconf("SC_CLK_TCK")


def own_cpu(fields: list[str]) -> float:
    """utime + stime of a process, in seconds."""
    return ticks_to_seconds(int(fields[11]) + int(fields[12]))


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (0 when it is gone)."""
    fields = proc_stat(pid)
    return 0.0 if fields is None else own_cpu(fields)


def parent_map() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := proc_stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(pid: int) -> list[int]:
    parents = parent_map()
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def identities(pids: Sequence[int]) -> list[tuple[int, str]]:
    """(pid, start time) pairs, so that a reused pid is never mistaken for one of ours."""
    return [(pid, fields[18]) for pid in pids if (fields := proc_stat(pid)) is not None]


def survivors(family: Sequence[tuple[int, str]]) -> list[tuple[int, str]]:
    """The processes of `family` still running: same pid and start time, not a zombie."""
    alive = []
    for pid, start_time in family:
        fields = proc_stat(pid)
        if fields is not None and fields[18] == start_time and fields[0] not in ("Z", "X"):
            alive.append((pid, start_time))
    return alive


def describe(processes: Sequence[tuple[int, str]]) -> list[str]:
    """`pid command line` of each process (shortened)."""
    lines = []
    for pid, _ in processes:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            argv = [b"?"]
        lines.append(f"{pid} {b' '.join(argv).decode(errors='replace').strip()[:120]}")
    return lines
