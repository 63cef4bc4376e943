"""The `batchd` command as users run it: a subprocess, pointed at the real server."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from tests.support import RunningServer

BATCHD = [sys.executable, "-m", "batchd.app"]


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without any BATCHD_* setting, plus `extra`.

    Wide, colourless rich output, so that tables and messages are not folded or styled.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BATCHD_") and k not in ("FORCE_COLOR", "TTY_COMPATIBLE")
    }
    env.update(COLUMNS="200", NO_COLOR="1", PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Result:
    args: list[str]
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return f"$ batchd {' '.join(self.args)}\n-> {self.code}\n{self.stdout}\n{self.stderr}"


def run(args: list[str], env: Mapping[str, str], cwd: Path, timeout: float = 60) -> Result:
    done = subprocess.run(
        [*BATCHD, *args], env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    return Result(args, done.returncode, done.stdout, done.stderr)


class Cli:
    """Runs `batchd ...` with fixed environment and trailing options (--endpoint, ...)."""

    def __init__(self, env: Mapping[str, str], cwd: Path, options: list[str]) -> None:
        self.env = dict(env)
        self.cwd = cwd
        self.options = options

    def __call__(self, *args: str, expect: int = 0) -> Result:
        result = run([*args, *self.options], self.env, self.cwd)
        assert result.code == expect, str(result)
        assert "Traceback" not in result.stderr, str(result)
        return result

    def json(self, *args: str) -> Any:
        return self(*args, "--output", "json").json()

    def start(self, *args: str) -> contextlib.AbstractContextManager[Child]:
        """`batchd ...` running in the background; killed at the end of the `with`."""
        return child([*args, *self.options], self.env, self.cwd)


class Lines:
    """The lines of a child's pipe, read in a thread so that a test can wait with a timeout."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join(timeout=10)

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def next(self, timeout: float = 20) -> str:
        """The next line; fails on end of stream or after `timeout` seconds."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line within {timeout} s; so far: {self.seen}") from None
        assert line is not None, f"the stream ended; so far: {self.seen}"
        self.seen.append(line)
        return line

    def until(self, fragment: str, timeout: float = 30) -> str:
        """Lines up to the first that contains `fragment`; that line."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.next(max(0.1, deadline - time.monotonic()))
            if fragment in line:
                return line

    def rest(self, timeout: float = 10) -> list[str]:
        """All remaining lines, once the stream has ended."""
        lines: list[str] = []
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"the stream did not end; so far: {lines}") from None
            if line is None:
                return lines
            self.seen.append(line)
            lines.append(line)


@dataclass(frozen=True)
class Child:
    process: subprocess.Popen[str]
    stdout: Lines
    stderr: Lines

    def signal(self, signum: int, timeout: float = 15) -> int:
        """Send `signum`; the exit code, which must come within `timeout` seconds."""
        self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)


@contextlib.contextmanager
def child(args: list[str], env: Mapping[str, str], cwd: Path) -> Iterator[Child]:
    """`batchd args` in the background, its output read line by line; always stopped."""
    process = subprocess.Popen(
        [*BATCHD, *args],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    stdout, stderr = Lines(process.stdout), Lines(process.stderr)
    try:
        yield Child(process, stdout, stderr)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        stdout.join()
        stderr.join()
        process.stdout.close()
        process.stderr.close()


@pytest.fixture
def cli(server: RunningServer, tmp_path: Path) -> Cli:
    """`batchd` with the server's key in the environment and `--endpoint` to it."""
    work = tmp_path / "cwd"  # no ./.batchd here: nothing found by accident
    work.mkdir()
    env = clean_env(
        {
            "BATCHD_APPID": server.credential.app_id,
            "BATCHD_SECRET_ID": server.credential.secret_id,
            "BATCHD_SECRET_KEY": server.credential.secret_key,
        }
    )
    return Cli(env, work, ["--endpoint", server.base_url])
