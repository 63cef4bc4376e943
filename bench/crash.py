"""Crash benchmark: event delivery across many `kill -9`s of batchd, beyond the suite's 10 rounds.

Runs the suite's crash test (tests/batch/test_event_crash.py) with EVENT_CRASH_ROUNDS rounds
(default 40) on the default store, SQLite, and optionally PostgreSQL: each round submits 1-2 jobs
with notifications for every job, task and instance event (and the environment's node events),
kills the `batchd serve` subprocess with SIGKILL a random moment later and starts it again; at
the end it proves that every stored event reached the subscribed queue exactly once and nothing
else did, in transition order, consistent with the final states. It prints the seed, each
round's kill, the totals and the verdict. Bounded: the test's own timeout is 120 s + 30 s per
round. Only 127.0.0.1 is contacted.

Usage: `.venv/bin/python bench/crash.py [--rounds N] [--postgresql] [--seed S]`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/batch/test_event_crash.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="kill -9 rounds (default 40)")
    parser.add_argument("--postgresql", action="store_true", help="also on PostgreSQL")
    parser.add_argument("--seed", type=int, help="replay the jobs and delays of a seed")
    args = parser.parse_args()
    env = {**os.environ, "EVENT_CRASH_ROUNDS": str(args.rounds)}
    if args.seed is not None:
        env["EVENT_CRASH_SEED"] = str(args.seed)
    stores = ["sqlite", "postgresql"] if args.postgresql else ["sqlite"]
    command = [
        sys.executable,
        "-m",
        "pytest",
        TEST,
        "-p",
        "no:xdist",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "-s",
        "-q",
        "-k",
        " or ".join(stores),
    ]
    print(
        f"batchd crash benchmark: {args.rounds} kill -9 rounds on {', '.join(stores)}", flush=True
    )
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )
    wanted = ("event crash seed", "round ", " jobs, ", "passed", "failed", "Error")
    for line in result.stdout.splitlines():
        if any(marker in line for marker in wanted):
            print(line.strip())
    verdict = "every stored event delivered exactly once" if result.returncode == 0 else "FAILED"
    print(f"{verdict}; {time.monotonic() - started:.0f} s")
    if result.returncode != 0:
        print(result.stdout[-4000:], result.stderr[-2000:], sep="\n")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
