"""What the CMQ request path costs per request, the nonce check included: on PostgreSQL every
replica's nonces are also checked in the database (store/request_memory.py), on SQLite only in
memory.

A fresh `batchd serve` subprocess per database kind; 1 client, then CLIENTS clients (threads, a
connection each) call GetQueueAttributes, a read: no group commit and no fsync to hide the check
behind. Per phase: requests/s, latency p50 and p99, and the server's CPU time per request. On
PostgreSQL it also counts the rows of `seen_nonces` afterwards (a check per request was made) when
the server has that table, and, when the code has it, times `RequestMemory.first_use` alone on a
migrated database: one check at a time, then IN_FLIGHT at once (the checks per statement show the
batching). Only 127.0.0.1 is contacted.

Usage: `.venv/bin/python bench/nonce.py [--seconds S] [--clients N] [--db sqlite|postgresql|both]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text

from processes import cpu_seconds
from report import percentile, print_closing, print_header, progress, table
from server import (
    Batchd,
    cmq_client,
    exit_on_sigterm,
    postgres_database,
    serving,
)

QUEUE = "bench"
IN_FLIGHT = 64


@dataclass(frozen=True, slots=True)
class Phase:
    clients: int
    requests: int
    seconds: float
    latencies_ms: list[float]
    server_cpu: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def row(self, kind: str) -> list[str]:
        return [
            f"{kind}, {self.clients} client{'s' if self.clients > 1 else ''}",
            f"{self.rate:,.0f}/s",
            f"{percentile(self.latencies_ms, 50):.2f} ms",
            f"{percentile(self.latencies_ms, 99):.2f} ms",
            f"{self.server_cpu / self.requests * 1000:.3f} ms",
        ]


def measure(server: Batchd, clients: int, seconds: float) -> Phase:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    stop = threading.Event()

    def client(mine: list[float]) -> None:
        cmq = cmq_client(server.base_url)
        try:
            cmq.call("GetQueueAttributes", {"queueName": QUEUE})  # connected before the start
            start.wait()
            while not stop.is_set():
                began = time.perf_counter()
                cmq.call("GetQueueAttributes", {"queueName": QUEUE})
                mine.append((time.perf_counter() - began) * 1000)
        finally:
            cmq.close()

    threads = [threading.Thread(target=client, args=(mine,)) for mine in latencies]
    for thread in threads:
        thread.start()
    start.wait()
    cpu_before, began = cpu_seconds(server.process.pid), time.monotonic()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    flat = [value for mine in latencies for value in mine]
    return Phase(clients, len(flat), elapsed, flat, cpu_seconds(server.process.pid) - cpu_before)


def seen_nonces(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        if not inspect(engine).has_table("seen_nonces"):
            return "no seen_nonces table"
        with engine.connect() as conn:
            count = conn.execute(text("SELECT count(*) FROM seen_nonces")).scalar_one()
        return f"{count:,} rows in seen_nonces"
    finally:
        engine.dispose()


async def checks_for(memory: Any, nonces: Iterator[int], seconds: float, in_flight: int) -> str:
    """`in_flight` checkers calling `first_use` with new nonces for `seconds`."""
    stop_at = time.monotonic() + seconds
    cpu, began, statements = time.process_time(), time.monotonic(), memory.statements

    async def checker() -> int:
        done = 0
        while time.monotonic() < stop_at:
            assert await memory.first_use("AKIDbench", str(next(nonces)), "1")
            done += 1
        return done

    checks = sum(await asyncio.gather(*(checker() for _ in range(in_flight))))
    elapsed, cpu = time.monotonic() - began, time.process_time() - cpu
    return (
        f"first_use, {in_flight} in flight: {checks / elapsed:,.0f} checks/s, "
        f"{elapsed / checks * in_flight * 1000:.2f} ms each, "
        f"{checks / (memory.statements - statements):.1f} per statement, "
        f"{cpu / checks * 1000:.3f} ms CPU per check"
    )


def direct_checks(seconds: float) -> list[str]:
    """`first_use` alone, in this process: latency one at a time, rate with IN_FLIGHT at once."""
    try:
        from batchd.store import migrate, request_memory
    except ImportError:
        return ["RequestMemory: not in this code"]

    async def run(url: str) -> list[str]:
        memory = request_memory.RequestMemory(url, nonce_seconds=600)
        nonces = itertools.count()
        try:
            return [await checks_for(memory, nonces, seconds, n) for n in (1, IN_FLIGHT)]
        finally:
            await memory.close()

    with postgres_database() as url:
        engine = create_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        return asyncio.run(run(url))


def bench(kind: str, seconds: float, clients: int) -> tuple[list[Phase], str]:
    with tempfile.TemporaryDirectory(prefix=f"batchd-bench-{kind}-") as tmp:
        data_dir = Path(tmp)
        with contextlib.ExitStack() as stack:
            if kind == "sqlite":
                url = f"sqlite:///{data_dir / 'batchd.db'}"
            else:
                url = stack.enter_context(postgres_database())
            server = stack.enter_context(serving(data_dir, url))
            admin = cmq_client(server.base_url)
            admin.call("CreateQueue", {"queueName": QUEUE})
            admin.close()
            phases = []
            for count in (1, clients):
                progress(f"{kind}: {count} client(s), {seconds:g} s")
                phases.append(measure(server, count, seconds))
            note = seen_nonces(url) if kind == "postgresql" else ""
        return phases, note


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase (default 5)")
    parser.add_argument("--clients", type=int, default=8, help="of the busy phase (default 8)")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    exit_on_sigterm()
    print_header("batchd CMQ request path (GetQueueAttributes), nonce check included")
    kinds = ("sqlite", "postgresql") if args.db == "both" else (str(args.db),)
    rows, notes = [], []
    for kind in kinds:
        phases, note = bench(kind, args.seconds, args.clients)
        rows += [phase.row(kind) for phase in phases]
        if note:
            notes.append(f"{kind}: {note}")
    if "postgresql" in kinds:
        progress(f"RequestMemory.first_use alone, {args.seconds:g} s per phase")
        notes += direct_checks(args.seconds)
    print()
    for line in table(["phase", "requests", "p50", "p99", "server CPU/request"], rows):
        print(line)
    for line in notes:
        print(line)
    print()
    print_closing()
    return 0


if __name__ == "__main__":
    sys.exit(main())
