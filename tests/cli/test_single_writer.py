"""One server per data directory: a second `batchd serve` on a data directory in use exits at
once naming the running server, and changes nothing; the first one's running job still
succeeds. On one PostgreSQL database, servers with directories of their own are replicas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.batch.conftest import BatchApi, command_task
from tests.support import ServerProcess, free_port

pytestmark = pytest.mark.timeout(300)  # fresh processes: slow on a busy machine


def second_server(first: ServerProcess, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "batchd.app", "serve"),
            *("--data-dir", str(data_dir), "--port", str(free_port())),
            *("--database-url", first.database_url),
        ],
        env=first.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def running_job(first: ServerProcess) -> tuple[BatchApi, str]:
    batch = BatchApi(first.running())
    env_id = batch.env(nodes=2)
    job_id = batch.submit([command_task("sleepy", env_id, "sleep 4", TaskInstanceNum=2)])
    batch.until("DescribeJob", {"JobId": job_id}, lambda d: d["JobState"] == "RUNNING")
    return batch, job_id


def test_a_second_server_on_a_data_directory_in_use_refuses_to_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = ServerProcess(data_dir, f"sqlite:///{data_dir / 'batchd.db'}")
    with first.serving():
        batch, job_id = running_job(first)
        before = sorted(path.name for path in data_dir.iterdir())

        refused = second_server(first, data_dir)

        assert refused.returncode == 1
        assert str(data_dir.resolve()) in refused.stderr
        assert f"pid {first.process.pid if first.process else ''}" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert sorted(path.name for path in data_dir.iterdir()) == before
        assert batch.finished(job_id)["JobState"] == "SUCCEED"


def test_a_second_server_on_a_postgresql_database_joins_as_a_follower(
    tmp_path: Path, pg_url: str
) -> None:
    """On PostgreSQL, servers with data directories of their own are replicas of one service:
    the second one follows, answers, and leaves the leader's running job alone."""
    first = ServerProcess(tmp_path / "first", pg_url)
    with first.serving():
        batch, job_id = running_job(first)
        second = ServerProcess(tmp_path / "second", pg_url)
        with second.serving():
            roles = {
                server.base_url: httpx.get(f"{server.base_url}/healthz").json()
                for server in (first, second)
            }
            assert roles[first.base_url]["role"] == "leader"
            assert roles[second.base_url]["role"] == "follower"
            assert roles[second.base_url]["leader"] == first.base_url
            on_second = BatchApi(second.running())
            described = on_second("DescribeJob", {"JobId": job_id})
            assert described["JobId"] == job_id
            assert batch.finished(job_id)["JobState"] == "SUCCEED"
