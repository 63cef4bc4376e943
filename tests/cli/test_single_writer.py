"""One server per store: a second `batchd serve` on a data directory, or a PostgreSQL database,
in use exits at once naming the running server, and changes nothing; the first one's running
job still succeeds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_a_second_server_on_a_postgresql_database_in_use_refuses_to_start(
    tmp_path: Path, pg_url: str
) -> None:
    first = ServerProcess(tmp_path / "first", pg_url)
    with first.serving():
        batch, job_id = running_job(first)

        refused = second_server(first, tmp_path / "second")

        assert refused.returncode == 1
        assert "PostgreSQL database" in refused.stderr
        assert f"pid {first.process.pid if first.process else ''}" in refused.stderr
        assert batch.finished(job_id)["JobState"] == "SUCCEED"
