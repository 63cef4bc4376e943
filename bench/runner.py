"""Runner benchmark: what one task-instance attempt costs a node, without Dask or the server.

Runs N attempts of `true` one after another through the worker-side runner (work dir, logs,
process group behind the gate, watchdog, tails, result) in this process, and the same N
commands through `xargs -P1` in the same run, and prints both per attempt: wall time, the CPU of
this process, the CPU of the children. It isolates the node's share of bench/dispatch.py (a),
whose figures move with the server, Dask and the disk. The work dirs go where dispatch.py puts
its data directory: in the current directory.

    .venv/bin/python bench/runner.py [--attempts N] [--rounds R]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from batchd.compute import guard, runner
from batchd.compute.instance import InstanceSpec
from report import print_closing, print_header, progress, table


@dataclass(frozen=True, slots=True)
class Cost:
    """Per attempt, in milliseconds."""

    wall: float
    own_cpu: float  # this process: the runner's Python and its system calls
    child_cpu: float  # the commands (and, for xargs, xargs itself)


def measure(count: int, work: Callable[[], None]) -> Cost:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    work()
    wall = time.perf_counter() - started
    own_after = resource.getrusage(resource.RUSAGE_SELF)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)

    def cpu(before: resource.struct_rusage, after: resource.struct_rusage) -> float:
        return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime

    per = 1000 / count
    return Cost(wall * per, cpu(own, own_after) * per, cpu(children, children_after) * per)


def attempts(root: Path, count: int, round_number: int) -> list[InstanceSpec]:
    job = f"job-bench{round_number:03d}"
    return [
        InstanceSpec(
            key=f"{job}:t:{index}:1",
            job_id=job,
            task_name="t",
            instance_num=count,
            index=index,
            attempt=1,
            env_id="env-bench001",
            node_id="node-bench001",
            command="true",
            work_dir=str(root / job / "t" / f"{index}.1"),  # as control/spec.py lays it out
        )
        for index in range(count)
    ]


def run_attempts(specs: list[InstanceSpec]) -> None:
    for spec in specs:
        result = runner.run_instance(spec)
        if result.exit_code != 0:
            raise RuntimeError(f"{spec.key}: {result.reason} {result.detail}")


def run_xargs(count: int) -> None:
    subprocess.run(f"seq {count} | xargs -P1 -n1 true", shell=True, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    print_header("batchd runner benchmark: one attempt after another, in this process")
    rows = []
    with tempfile.TemporaryDirectory(prefix="batchd-bench-runner-", dir=Path.cwd()) as scratch:
        root = Path(scratch)
        guard.shared().start()  # as a node's preload does
        try:
            for number in range(1, options.rounds + 1):
                specs = attempts(root, options.attempts, number)
                (root / specs[0].job_id / "t").mkdir(parents=True)  # as a pack finds it
                progress(f"round {number}: {options.attempts} attempts, then xargs")
                batchd = measure(options.attempts, partial(run_attempts, specs))
                xargs = measure(options.attempts, partial(run_xargs, options.attempts))
                rows.append((number, batchd, xargs))
        finally:
            guard.shared().close()
    print()
    print(f"{options.attempts} x `true` per round; milliseconds per attempt")
    headers = ["round", "runner wall", "own CPU", "children CPU", "xargs wall", "xargs CPU"]
    cells = [
        [
            str(number),
            f"{b.wall:.3f}",
            f"{b.own_cpu:.3f}",
            f"{b.child_cpu:.3f}",
            f"{x.wall:.3f}",
            f"{x.child_cpu:.3f}",
        ]
        for number, b, x in rows
    ]
    for line in table(headers, cells):
        print(line)
    best = min(rows, key=lambda row: row[1].wall)
    print(
        f"best round: runner / xargs wall {best[1].wall / best[2].wall:.2f}x; "
        f"the runner's own CPU {best[1].own_cpu:.3f} ms per attempt"
    )
    print_closing()
    return 0


if __name__ == "__main__":
    sys.exit(main())
