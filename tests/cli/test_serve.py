"""`batchd serve` as a subprocess: first start, settings from the environment, bad settings."""

from __future__ import annotations

import json
import signal
import stat
import time
from pathlib import Path

import pytest

from batchd.cli.main import announce
from batchd.settings import Settings
from tests.cli.conftest import Child, child, clean_env, run
from tests.support import CREDENTIAL, free_port, healthy, wait_until

pytestmark = pytest.mark.timeout(300)  # fresh processes: slow on a busy machine


def wait_healthy(serve: Child, base_url: str) -> None:
    wait_until(lambda: serve.process.poll() is not None or healthy(base_url), 60, 0.1)
    assert serve.process.poll() is None, "\n".join(serve.stderr.rest())


def announcement(serve: Child) -> str:
    """The start-up text, from its first line to its last example command."""
    lines = [serve.stderr.until("batchd serving on")]
    while "batchd queue receive demo" not in lines[-1]:
        lines.append(serve.stderr.next())
    return "\n".join(lines)


def stop_within(serve: Child, seconds: float) -> None:
    started = time.monotonic()
    assert serve.signal(signal.SIGTERM, timeout=seconds) == 0
    assert time.monotonic() - started < seconds
    assert "Traceback" not in "\n".join(serve.stderr.rest())


@pytest.mark.slow
def test_first_start_writes_credentials_and_the_cli_finds_them(tmp_path: Path) -> None:
    data_dir, cwd = tmp_path / "data", tmp_path / "cwd"
    cwd.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    credentials = data_dir / "credentials.json"
    serve_args = ["serve", "--data-dir", str(data_dir), "--port", str(port)]
    with child(serve_args, clean_env(), cwd) as serve:
        wait_healthy(serve, base)
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
        key = json.loads(credentials.read_text())
        assert set(key) == {"AppId", "SecretId", "SecretKey"}
        assert key["SecretId"].startswith("AKID")

        text = announcement(serve)
        assert f"credentials : {credentials.resolve()}" in text
        assert f"{base}/v2/index.php" in text
        assert f"{base}/healthz" in text
        assert f"{base}/metrics" in text
        assert f"sqlite:///{data_dir}/batchd.db" in text
        assert f"export BATCHD_ENDPOINT={base} BATCHD_DATA_DIR={data_dir.resolve()}" in text
        assert "batchd queue create demo" in text
        assert key["SecretKey"] not in text

        # only --data-dir (for the key) and --endpoint: no BATCHD_* in the environment
        where = ["--data-dir", str(data_dir), "--endpoint", base]
        created = run(["queue", "create", "demo", "-o", "json", *where], clean_env(), cwd)
        assert created.code == 0, str(created)
        assert created.json()["queueName"] == "demo"
        sent = run(["queue", "send", "demo", "hello", *where], clean_env(), cwd)
        assert sent.code == 0, str(sent)
        # the variables the announcement suggests work as well
        exported = clean_env({"BATCHD_ENDPOINT": base, "BATCHD_DATA_DIR": str(data_dir)})
        received = run(["queue", "receive", "demo", "--delete", "-o", "json"], exported, cwd)
        assert received.code == 0, str(received)
        assert [m["msgBody"] for m in received.json()] == ["hello"]

        stop_within(serve, 10)

    with child(serve_args, clean_env(), cwd) as again:  # a restart keeps the key and the data
        wait_healthy(again, base)
        assert json.loads(credentials.read_text()) == key
        assert f"credentials : {credentials.resolve()}" in announcement(again)
        listed = run(["queue", "list", "-o", "json", *where], clean_env(), cwd)
        assert [q["queueName"] for q in listed.json()] == ["demo"]
        stop_within(again, 10)


@pytest.mark.slow
def test_serve_honours_batchd_port_and_data_dir(tmp_path: Path) -> None:
    data_dir, cwd = tmp_path / "from-env", tmp_path / "cwd"
    cwd.mkdir()
    port = free_port()
    env = clean_env({"BATCHD_PORT": str(port), "BATCHD_DATA_DIR": str(data_dir)})
    with child(["serve", "--log-level", "WARNING"], env, cwd) as serve:
        wait_healthy(serve, f"http://127.0.0.1:{port}")
        assert (data_dir / "credentials.json").exists()
        assert not (cwd / ".batchd").exists()
        text = announcement(serve)
        assert f"serving on http://127.0.0.1:{port}" in text
        # the same two variables are enough for the client commands
        created = run(["queue", "create", "envq"], env, cwd)
        assert created.code == 0, str(created)
        listed = run(["queue", "list", "-o", "json"], env, cwd)
        assert [q["queueName"] for q in listed.json()] == ["envq"]
        stop_within(serve, 10)


@pytest.mark.slow
def test_serve_with_key_in_the_environment_writes_no_file(
    tmp_path: Path, database_url: str
) -> None:
    data_dir, cwd = tmp_path / "data", tmp_path / "cwd"
    cwd.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    key = {
        "BATCHD_APPID": CREDENTIAL.app_id,
        "BATCHD_SECRET_ID": CREDENTIAL.secret_id,
        "BATCHD_SECRET_KEY": CREDENTIAL.secret_key,
    }
    args = ["serve", "--data-dir", str(data_dir), "--port", str(port)]
    with child([*args, "--database-url", database_url], clean_env(key), cwd) as serve:
        wait_healthy(serve, base)
        text = announcement(serve)
        assert "credentials : from BATCHD_SECRET_ID / BATCHD_SECRET_KEY" in text
        assert CREDENTIAL.secret_key not in text
        assert not (data_dir / "credentials.json").exists()

        listed = run(["queue", "list", "-o", "json", "--endpoint", base], clean_env(key), cwd)
        assert listed.code == 0, str(listed)
        assert listed.json() == []
        no_key = run(
            ["queue", "list", "--endpoint", base, "--data-dir", str(data_dir)], clean_env(), cwd
        )
        assert no_key.code == 2
        assert "no credentials found" in no_key.stderr
        stop_within(serve, 10)


@pytest.mark.parametrize(
    ("env", "args", "config", "expected"),
    [
        ({"BATCHD_PORT": "abc"}, [], None, "BATCHD_PORT"),
        ({}, ["--port", "70000"], None, "port 70000 is out of range"),
        ({"BATCHD_PUSH_TIMEOUT": "soon"}, [], None, "BATCHD_PUSH_TIMEOUT"),
        ({"BATCHD_SECRET_ID": "AKIDonly"}, [], None, "set both BATCHD_SECRET_ID"),
        ({}, [], "port = ", "is not valid TOML"),
        ({}, [], "colour = 'blue'\n", "unknown setting 'colour'"),
        ({"BATCHD_LOG_LEVEL": "loud"}, [], None, "BATCHD_LOG_LEVEL"),
        ({"BATCHD_DATABASE_URL": "batchd.db"}, [], None, "BATCHD_DATABASE_URL"),
        ({}, ["--event-body-encoding", "hex"], None, "BATCHD_EVENT_BODY_ENCODING"),
        ({"BATCHD_ZONES": "ap-guangzhou-3=s3://x"}, [], None, "BATCHD_ZONES"),
        ({}, [], '[zones]\n"ap-guangzhou-3" = "nowhere"\n', "source of zone 'ap-guangzhou-3'"),
        ({}, ["--zones", "ap-guangzhou-3"], None, "names no source"),
        ({"BATCHD_ZONES": "*=cluster:no_such_module.C"}, [], None, "cannot be imported"),
    ],
    ids=[
        "env-port",
        "flag-port",
        "env-float",
        "half-key",
        "bad-toml",
        "unknown-key",
        "log-level",
        "database-url",
        "event-body-encoding",
        "env-zones",
        "toml-zones",
        "flag-zones",
        "zones-cluster-missing",
    ],
)
def test_a_bad_setting_stops_start_up_with_one_line(
    tmp_path: Path, env: dict[str, str], args: list[str], config: str | None, expected: str
) -> None:
    data_dir = tmp_path / "data"
    if config is not None:
        data_dir.mkdir(mode=0o700)
        (data_dir / "batchd.toml").write_text(config)
    failed = run(
        ["serve", "--data-dir", str(data_dir), *args], clean_env(env), tmp_path, timeout=30
    )
    assert failed.code == 2, str(failed)
    (line,) = failed.stderr.strip().splitlines()
    assert line.startswith("batchd: "), line
    assert expected in line, line
    assert not (data_dir / "credentials.json").exists()


def test_announcement_hides_the_database_password(capsys: pytest.CaptureFixture[str]) -> None:
    announce(
        Settings(
            database_url="postgresql+psycopg://batchd:s3cret@db.internal:5432/batchd",
            host="0.0.0.0",
            secret_id="AKIDx",
            secret_key="k",
        )
    )
    text = capsys.readouterr().err
    assert "s3cret" not in text
    assert "postgresql+psycopg://batchd:***@db.internal:5432/batchd" in text
    assert "serving on http://127.0.0.1:8910 (listening on 0.0.0.0)" in text


def test_a_data_dir_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    failed = run(["serve", "--data-dir", str(blocker / "data")], clean_env(), tmp_path)
    assert failed.code == 2, str(failed)
    (line,) = failed.stderr.strip().splitlines()
    assert line.startswith("batchd: cannot write the credentials file"), line
