"""Where a server's time goes: `py-spy record --gil` of a running process, summed by layer.

Only samples where a thread holds the interpreter are counted, so the shares say what the
Python side of the server spends its time on; the time without the interpreter (SQLite's own
work, fsync, socket calls) is what is left of the wall clock. A layer is the innermost frame on
the stack that belongs to a known package, so that a call into SQLAlchemy made by batchd's store
counts as SQLAlchemy.
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PY_SPY = str(Path(sys.executable).parent / "py-spy")  # the dev extras install it in the venv
OTHER = "standard library and other"
DASK = "Dask: the scheduler and client in the server's process"
# (a part of a frame's file path, the layer it belongs to), most specific first.
LAYERS = (
    ("sqlalchemy/", "SQLAlchemy"),
    ("psycopg/", "psycopg: the PostgreSQL driver"),
    ("uvicorn/", "uvicorn: HTTP parsing, the ASGI cycle, socket writes"),
    ("starlette/", "Starlette"),
    ("pydantic", "pydantic"),
    ("batchd/api/", "batchd api: parsing, signatures, replies"),
    ("batchd/store/", "batchd store: the writer, statements"),
    ("batchd/control/", "batchd controller"),
    ("batchd/mq/", "batchd message service"),
    ("batchd/", "batchd, other"),
    ("distributed/", DASK),
    ("tornado/", DASK),
    ("msgpack/", DASK),
    ("asyncio/", "asyncio"),
    ("concurrent/", "futures and threads"),
    ("threading.py", "futures and threads"),
)
# The design change that would take a layer's time away, printed beside a large share
# (docs/benchmarks.md, "The message path, leaner", says more).
REMEDIES = {
    "SQLAlchemy": "more statements on the driver's cursor (store/prepared.py)",
    "psycopg: the PostgreSQL driver": "fewer round trips per group (psycopg's pipeline mode)",
    "uvicorn: HTTP parsing, the ASGI cycle, socket writes": (
        "a lean HTTP front for the hot path: one parse, one socket write per answer"
    ),
    "batchd store: the writer, statements": "writes on the event loop, without the thread hop",
    "asyncio": "fewer tasks and futures per request (writes on the event loop)",
    DASK: "the Dask scheduler in a process of its own",
}
LARGE_SHARE = 0.10


@dataclass(frozen=True, slots=True)
class Profile:
    samples: int  # samples with the interpreter held
    ticks: int  # samples the run could have taken
    layers: list[tuple[str, int]]  # layer, samples; most first

    @property
    def held_share(self) -> float:
        return self.samples / self.ticks if self.ticks else 0.0

    def lines(self) -> list[str]:
        lines = [
            f"the server held the interpreter {100 * self.held_share:.0f}% of the time; "
            "of that time:"
        ]
        for layer, count in self.layers:
            share = count / self.samples
            remedy = REMEDIES.get(layer) if share >= LARGE_SHARE else None
            lines.append(f"  {100 * share:5.1f}%  {layer}{f'  <- {remedy}' if remedy else ''}")
        return lines


def profile_lines(found: Profile | str | None, title: str, indent: str) -> list[str]:
    """A benchmark's lines for `found`: the profile under `title`, why there is none, or nothing
    when none was asked for."""
    if isinstance(found, Profile):
        first, *layers = found.lines()
        return [f"{indent}{title}: {first}", *(f"{indent}  {line.strip()}" for line in layers)]
    if found is not None:
        return [f"{indent}no profile: {found}"]
    return []


def available() -> str | None:
    """Why no profile can be taken here, or None."""
    if shutil.which(PY_SPY) is None:
        return "py-spy is not installed (it comes with the dev extras: make .venv/.installed-dev)"
    return None


@dataclass(slots=True)
class Recording:
    """py-spy sampling a process; `result` once the work to profile is done."""

    process: subprocess.Popen[bytes]
    output: Path
    ticks: int  # samples it would take with the interpreter always held

    def result(self, timeout: float = 60.0) -> Profile | str:
        """The profile, or why there is none."""
        try:
            _, error = self.process.communicate(timeout=timeout)
            if self.process.returncode != 0 or not self.output.stat().st_size:
                return f"py-spy failed: {error.decode(errors='replace').strip()[-300:]}"
            return summarize(self.output.read_text(), self.ticks)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return "py-spy did not finish"
        finally:
            self.output.unlink(missing_ok=True)


def record(pid: int, seconds: int, rate: int = 250) -> Recording:
    """Start sampling `pid` for `seconds`, `rate` times a second."""
    handle, name = tempfile.mkstemp(prefix="batchd-profile-", suffix=".txt")
    os.close(handle)
    command = [
        PY_SPY,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(seconds),
        "--rate",
        str(rate),
        "--gil",
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        name,
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return Recording(process, Path(name), seconds * rate)


def summarize(raw: str, ticks: int) -> Profile:
    """Sum py-spy's raw output (`frame;frame;… count` per line) by layer."""
    layers: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        layers[_layer(stack.split(";"))] += int(count)
        total += int(count)
    return Profile(total, ticks, layers.most_common())


def _layer(frames: list[str]) -> str:
    for frame in reversed(frames):
        for part, layer in LAYERS:
            if part in frame:
                return layer
    return OTHER
