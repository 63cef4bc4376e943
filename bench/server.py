"""`batchd serve` as a benchmark's subprocess: started with its keys, awaited, stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from batchd.cli.batch_client import BatchClient
from batchd.cli.client import CmqClient
from processes import descendants, describe, identities, survivors

HOST = "127.0.0.1"
APP_ID = "1250000001"
SECRET_ID = "AKIDbenchmark"
SECRET_KEY = "benchmark-key"
REGION = "ap-guangzhou"
PG_ADMIN_URL = f"postgresql+psycopg://postgres@{HOST}:5432/test"
STOP_GRACE = 40.0  # s between SIGTERM and SIGKILL
LEFTOVER_GRACE = 5.0  # s a descendant may outlive the server before it is killed


@dataclass(slots=True)
class Batchd:
    """A running `batchd serve` subprocess."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def batch(self) -> BatchClient:
        return BatchClient(self.base_url, SECRET_ID, SECRET_KEY, REGION)

    def cmq(self) -> CmqClient:
        return cmq_client(self.base_url)


def cmq_client(base_url: str) -> CmqClient:
    return CmqClient(base_url, SECRET_ID, SECRET_KEY)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def server_command(data_dir: Path, port: int, database_url: str | None) -> list[str]:
    """`batchd serve` on `database_url`, or on its default store (SQLite in `data_dir`)."""
    database = [] if database_url is None else ["--database-url", database_url]
    return [
        sys.executable,
        "-m",
        "batchd.app",
        "serve",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        *database,
        "--log-level",
        "WARNING",
    ]


def server_env() -> dict[str, str]:
    """No BATCHD_* from the caller's environment: the default store, the benchmark's keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHD_")}
    env.update(BATCHD_APPID=APP_ID, BATCHD_SECRET_ID=SECRET_ID, BATCHD_SECRET_KEY=SECRET_KEY)
    return env


@contextlib.contextmanager
def launched(data_dir: Path, database_url: str | None = None) -> Iterator[Batchd]:
    """`batchd serve` started on a free loopback port, its output in data_dir/server.log; the
    caller waits for it (wait_healthy) and stops it (terminate or stop) before leaving."""
    port = free_port()
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            server_command(data_dir, port, database_url),
            env=server_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        yield Batchd(f"http://{HOST}:{port}", process, log_path)


@contextlib.contextmanager
def serving(data_dir: Path, database_url: str | None = None) -> Iterator[Batchd]:
    """`launched`, awaited until healthy, and always stopped on exit."""
    with launched(data_dir, database_url) as server:
        try:
            wait_healthy(server)
            yield server
        finally:
            terminate(server.process, kill_wait=10.0)


def wait_healthy(server: Batchd) -> None:
    deadline = time.monotonic() + 60  # migrations and imports are slow on a busy machine
    while not healthy(server.base_url):
        if server.process.poll() is not None or time.monotonic() > deadline:
            tail = server.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"batchd did not become healthy at {server.base_url}:\n{tail}")
        time.sleep(0.05)


def terminate(
    process: subprocess.Popen[bytes],
    wait_exit: Callable[[float], bool] | None = None,
    kill_wait: float = 30.0,
) -> bool:
    """SIGTERM, SIGKILL if it has not exited within STOP_GRACE s (by Popen.wait, or by
    `wait_exit(timeout)`: True once it has exited); True when SIGKILL was needed."""
    process.send_signal(signal.SIGTERM)
    exited = exits_within(process, STOP_GRACE) if wait_exit is None else wait_exit(STOP_GRACE)
    if not exited:
        process.kill()
    process.wait(timeout=kill_wait)
    return not exited


def exits_within(process: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


@dataclass(frozen=True, slots=True)
class StopResult:
    seconds: float  # SIGTERM -> exit
    killed: bool  # SIGKILL was needed
    outlived: list[str]  # descendants still running when the server had exited
    leftovers: list[str]  # of those, the ones still running LEFTOVER_GRACE s later: killed
    exit_code: int | None


def stop(
    process: subprocess.Popen[bytes], wait_exit: Callable[[float], bool] | None = None
) -> StopResult:
    """terminate(); then end the descendants it left behind, by pid, after LEFTOVER_GRACE s."""
    if process.poll() is not None:
        return StopResult(0.0, False, [], [], process.returncode)
    family = identities(descendants(process.pid))
    started = time.monotonic()
    killed = terminate(process, wait_exit)
    seconds = time.monotonic() - started
    outlived = describe(survivors(family))
    deadline = time.monotonic() + LEFTOVER_GRACE
    while (leftovers := survivors(family)) and time.monotonic() < deadline:
        time.sleep(0.1)
    described = describe(leftovers)
    for pid, _ in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return StopResult(seconds, killed, outlived, described, process.returncode)


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so that the server and all else a benchmark started is
    still stopped and cleaned up."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"batchd_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
