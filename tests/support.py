"""Test helpers: a batchd server in a thread or in a subprocess, and the CMQ SDK pointed at it."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from batchd.api.server import KEEP_ALIVE_SECONDS
from batchd.app import build_app
from batchd.domain.account import Credential
from batchd.settings import Settings

CREDENTIAL = Credential(app_id="1250000001", secret_id="AKIDtestsecretid", secret_key="test-key")
OTHER_CREDENTIAL = Credential(app_id="1250000002", secret_id="AKIDother", secret_key="other-key")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Poll `predicate` until it holds, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class RunningServer:
    base_url: str
    data_dir: Path
    database_url: str
    credential: Credential = CREDENTIAL

    @property
    def host(self) -> str:
        return self.base_url.removeprefix("http://")


@contextlib.contextmanager
def server_in_thread(
    data_dir: Path, database_url: str, **overrides: Any
) -> Iterator[RunningServer]:
    """The real application on a free loopback port, served by uvicorn in a thread."""
    # Bound here and handed to uvicorn: a port only looked up as free may be taken by another
    # process (a Dask worker of a test running beside) before the server binds it.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = int(listener.getsockname()[1])
    settings = Settings(
        data_dir=data_dir,
        port=port,
        database_url=database_url,
        app_id=CREDENTIAL.app_id,
        secret_id=CREDENTIAL.secret_id,
        secret_key=CREDENTIAL.secret_key,
        **overrides,
    )
    app = build_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="on",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,  # as `batchd serve` has it
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="batchd-test-server", daemon=True
    )
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: server.started, timeout=20)
        yield RunningServer(base_url, data_dir, database_url)
    finally:
        server.should_exit = True
        thread.join(timeout=40)
        listener.close()


class ServerProcess:
    """`batchd serve` as a real subprocess, for restarts and kill -9."""

    def __init__(self, data_dir: Path, database_url: str, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.credential = CREDENTIAL

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BATCHD_")}
        env.update(
            BATCHD_APPID=CREDENTIAL.app_id,
            BATCHD_SECRET_ID=CREDENTIAL.secret_id,
            BATCHD_SECRET_KEY=CREDENTIAL.secret_key,
        )
        return env

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "batchd.app",
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
                "--database-url",
                self.database_url,
                "--log-level",
                "WARNING",
            ],
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: healthy(self.base_url), timeout=30, interval=0.05)

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=40)
        self.process = None
        return code

    @contextlib.contextmanager
    def serving(self) -> Iterator[ServerProcess]:
        """Started now, stopped after the block."""
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def running(self) -> RunningServer:
        """Where clients reach it."""
        return RunningServer(self.base_url, self.data_dir, self.database_url)

    def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(Exception):
                self.terminate()
            if self.process is not None:
                self.kill()


class CmqAccounts:
    """Makes official CMQ SDK Accounts pointed at batchd, and closes their connections."""

    def __init__(self) -> None:
        self._made: list[Any] = []

    def __call__(
        self,
        base_url: str,
        credential: Credential = CREDENTIAL,
        sign: str = "sha1",
        method: str = "POST",
    ) -> Any:
        # The SDK attaches a log file in the working directory unless its logger has a handler.
        logging.getLogger("CMQ_python_sdk").addHandler(logging.NullHandler())
        from cmq.account import Account

        account = Account(base_url, credential.secret_id, credential.secret_key)
        if sign == "sha256":
            account.set_sign("sha256")
        account.get_client().set_method(method)
        self._made.append(account)
        return account

    def close(self) -> None:
        for account in self._made:
            account.get_client().close_connection()


def run_tccli(
    service: str,
    arguments: list[str],
    *,
    endpoint: str,
    credential: Credential,
    home: Path,
    region: str = "ap-guangzhou",
) -> subprocess.CompletedProcess[str]:
    """`tccli SERVICE ARGUMENTS --endpoint ENDPOINT`, with this key and region, its configuration
    written under `home`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TENCENTCLOUD_")}
    env.update(
        HOME=str(home),  # tccli writes its configuration on first run
        TENCENTCLOUD_SECRET_ID=credential.secret_id,
        TENCENTCLOUD_SECRET_KEY=credential.secret_key,
        TENCENTCLOUD_REGION=region,
    )
    command = [str(Path(sys.executable).parent / "tccli"), service, *arguments]
    return subprocess.run(
        [*command, "--endpoint", endpoint],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def raw_json(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.read())
    return data


def empty_tables(database_url: str) -> None:
    """Delete every row, children before parents. A server may still be writing (a module-shared
    server's controller finishing a step): PostgreSQL then may pick the emptying as a deadlock
    victim, and emptying again is safe."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.pool import NullPool

    from batchd.store import schema

    engine = create_engine(database_url, poolclass=NullPool)
    try:
        for attempt in range(10):
            try:
                with engine.begin() as conn:
                    # DELETE beats TRUNCATE on tables this small. The administrator's account
                    # and key stay, as the server stored them at its start.
                    for table in reversed(schema.metadata.sorted_tables):
                        conn.execute(table.delete().where(*_deletable(table)))
                return
            except OperationalError as error:
                if "deadlock" not in str(error) or attempt == 9:
                    raise
                time.sleep(0.2)
    finally:
        engine.dispose()


def _deletable(table: Any) -> list[Any]:
    """The condition of the rows `empty_tables` deletes from `table`."""
    from sqlalchemy import false

    if table.name == "accounts":
        return [table.c.app_id != CREDENTIAL.app_id]
    if table.name == "api_keys":
        return [table.c.secret_id != CREDENTIAL.secret_id]
    if table.name == "leader_lease":
        return [false()]  # who leads the servers of this database: theirs to say
    return []


def pids_of(command_fragment: str) -> list[int]:
    """The live (not zombie) processes whose command line holds `command_fragment`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if command_fragment in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def unique_sleep(seconds: int = 120) -> str:
    """A `sleep` command line no other test runs at the same time: its processes can be found."""
    return f"sleep {seconds}.{uuid.uuid4().int % 10**6:06d}"
