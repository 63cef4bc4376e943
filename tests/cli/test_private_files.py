"""The data directory and what batchd writes in it are the server's alone: made owner-only, and
a directory or credentials file others can read stops `batchd serve` and the CLI with the
`chmod` that fixes it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.cli.conftest import child, clean_env, run
from tests.cli.test_serve import stop_within, wait_healthy
from tests.support import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_data_directory_is_owner_only(tmp_path: Path) -> None:
    data_dir, cwd = tmp_path / "data", tmp_path / "cwd"
    cwd.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with child(
        ["serve", "--data-dir", str(data_dir), "--port", str(port)], clean_env(), cwd
    ) as serve:
        wait_healthy(serve, base)
        where = ["--data-dir", str(data_dir), "--endpoint", base]
        assert run(["queue", "create", "q", *where], clean_env(), cwd).code == 0
        written = sorted(path for path in data_dir.rglob("*"))
        stop_within(serve, 10)

    # Under root, commands run under ids of their own and may enter (not list) the way to
    # their work dirs: 0711 (compute/isolation.py).
    assert mode(data_dir) == (0o711 if os.geteuid() == 0 else 0o700)
    names = {path.name for path in written}
    assert {"credentials.json", "batchd.db", "serve.lock"} <= names
    readable = [
        f"{path} {mode(path):o}" for path in written if path.exists() and mode(path) & 0o066
    ]
    assert readable == []


def test_a_data_directory_others_can_read_is_refused(tmp_path: Path) -> None:
    data_dir, cwd = tmp_path / "data", tmp_path / "cwd"
    cwd.mkdir()
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    serve = run(
        ["serve", "--data-dir", str(data_dir), "--port", str(free_port())], clean_env(), cwd
    )

    assert serve.code == 2, str(serve)
    assert f"chmod 700 {data_dir.resolve()}" in serve.stdout + serve.stderr
    assert not (data_dir / "batchd.db").exists()

    port = free_port()
    anyway = ["serve", "--data-dir", str(data_dir), "--port", str(port), "--allow-open-data-dir"]
    with child(anyway, clean_env(), cwd) as serving:
        wait_healthy(serving, f"http://127.0.0.1:{port}")
        assert "served anyway" in serving.stderr.until("served anyway")
        stop_within(serving, 10)


def test_the_cli_refuses_a_credentials_file_others_can_read(tmp_path: Path) -> None:
    data_dir, cwd = tmp_path / "data", tmp_path / "cwd"
    cwd.mkdir()
    data_dir.mkdir(mode=0o700)
    credentials = data_dir / "credentials.json"
    credentials.write_text('{"AppId": "1", "SecretId": "AKIDx", "SecretKey": "k"}\n')
    credentials.chmod(0o644)

    listed = run(["queue", "list", "--data-dir", str(data_dir)], clean_env(), cwd)

    assert listed.code == 2, str(listed)
    assert f"chmod 600 {credentials.resolve()}" in listed.stdout + listed.stderr
