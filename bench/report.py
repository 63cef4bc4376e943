"""How every benchmark reports: header, closing line, progress on stderr, percentiles, tables."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence

from machine import load_average, machine_facts

STARTED = time.monotonic()  # the benchmark's start: imported before it measures anything


def print_header(title: str) -> None:
    """The benchmark's name and the facts of the machine it runs on."""
    print(title)
    for line in machine_facts():
        print(f"  {line}")
    sys.stdout.flush()


def print_closing() -> None:
    print(f"{load_average()} at the end; total run time {time.monotonic() - STARTED:.0f} s")


def progress(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (NaN when empty)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(1, math.ceil(len(ordered) * p / 100)) - 1]


def verdict(ok: bool) -> str:
    return "ok " if ok else "MISS"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned first column, right-aligned others."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        parts = [
            first.ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)),
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return [line(headers), rule, *(line(row) for row in rows)]
