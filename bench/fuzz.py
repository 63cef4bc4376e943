"""Fuzz run: the suite's fuzz tests (tests/api/test_fuzz.py) with many more requests.

Every surface gets --requests random and mutated requests (API 3.0 with Batch and TDMQ actions,
CMQ, console forms, raw HTTP; signed and unsigned) against a real server on 127.0.0.1 and a
SQLite file; each must answer its protocol's envelope with a code that is not the internal one,
leave the server serving, and a refused one must store nothing. Prints the codes seen and the
verdict. Bounded by the test's own timeout.

Usage: `.venv/bin/python bench/fuzz.py [--requests N] [--seed S]` (N per surface, default 2,500:
10,000 in all).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/api/test_fuzz.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2500, help="per surface (default 2500)")
    parser.add_argument("--seed", type=int, help="hypothesis seed, to replay a run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        report_path = Path(scratch) / "report.json"
        env = {
            **os.environ,
            "FUZZ_EXAMPLES": str(args.requests),
            "FUZZ_REPORT": str(report_path),
        }
        command = [sys.executable, "-m", "pytest", TEST, "-q", "-n", "0", "-p", "no:cacheprovider"]
        if args.seed is not None:
            command.append(f"--hypothesis-seed={args.seed}")
        started = time.monotonic()
        done = subprocess.run(command, cwd=REPO_ROOT, env=env, check=False)
        elapsed = time.monotonic() - started
        report = json.loads(report_path.read_text()) if report_path.exists() else None
    if report is None:
        print("no report: the fuzz tests did not get to the end")
        return 1
    print(f"\n{report['requests']:,} requests in {elapsed:.0f} s; codes answered:")
    for name, count in report["codes"].items():
        print(f"  {count:>7,}  {name}")
    internal = report["internal"]
    print(f"internal errors: {len(internal)}")
    for text in internal[:10]:
        print(f"  {text}")
    verdict = done.returncode == 0 and not internal
    print(
        "verdict:", "every request answered by its protocol, none internal" if verdict else "FAILED"
    )
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
