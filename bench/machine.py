"""The machine and checkout a benchmark runs on: CPU, Python, OS, batchd revision and load."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_facts() -> list[str]:
    return [
        f"nproc:   {len(os.sched_getaffinity(0))} (os.cpu_count {os.cpu_count()})",
        f"CPU:     {cpu_model()}",
        f"Python:  {platform.python_implementation()} {platform.python_version()}",
        f"OS:      {platform.platform()}",
        f"batchd:  {revision()}",
        f"load:    {load_average()} at the start (other processes share these CPUs)",
    ]


def revision() -> str:
    """The git commit the benchmark runs against, marked when the work tree differs."""
    try:
        commit = git_output("rev-parse", "--short", "HEAD")
        dirty = git_output("status", "--porcelain", "--untracked-files=no", "src")
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"{commit}{' + uncommitted changes in src/' if dirty else ''}"


def git_output(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"
