"""The README's five-minute tour, run as written: `batchd serve` as `make run` starts it, then
the tour's shell block in the same directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import child, clean_env
from tests.cli.test_serve import stop_within, wait_healthy
from tests.support import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

README = Path(__file__).resolve().parents[2] / "README.md"
TOUR = re.compile(r"<!-- tour -->\s*```sh\n(.*?)```\s*<!-- /tour -->", re.DOTALL)


def tour_script() -> str:
    found = TOUR.search(README.read_text())
    assert found, "the README has no tour block between <!-- tour --> and <!-- /tour -->"
    return found.group(1)


def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    port = free_port()
    venv_bin = str(Path(sys.executable).parent)
    env = clean_env({"BATCHD_PORT": str(port), "PATH": f"{venv_bin}:{os.environ['PATH']}"})
    with child(["serve"], env, tmp_path) as serve:  # what `make run` starts, data in ./.batchd
        wait_healthy(serve, f"http://127.0.0.1:{port}")
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", tour_script()],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        stop_within(serve, 30)

    assert done.returncode == 0, done.stdout + done.stderr
    hello = sorted(line for line in done.stdout.splitlines() if line.startswith("hello from"))
    assert hello == [f"hello from instance {index}" for index in range(3)]
    assert done.stdout.count("TASK_INSTANCE_SUCCEED") == 3
    assert "JOB_SUCCEED" in done.stdout
    assert "SUCCEED" in done.stderr  # --wait's progress and verdict
