"""tccli, the official command line, against Tc3Endpoint (it sends `Host: http://…`)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from batchd.domain.scope import Scope
from tests.api.tc3.harness import REGION, Tc3Server
from tests.support import CREDENTIAL, run_tccli


def tccli(tc3: Tc3Server, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_tccli(
        "batch", list(args), endpoint=tc3.base_url, credential=CREDENTIAL, home=home, region=REGION
    )


def test_tccli_call_succeeds(tc3: Tc3Server, tmp_path: Path) -> None:
    done = tccli(tc3, tmp_path, "DescribeJob", "--JobId", "job-abcdefgh")

    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["JobId"] == "job-abcdefgh"
    scope, _ = tc3.recorder.last("DescribeJob")
    assert scope == Scope(CREDENTIAL.app_id, REGION)


def test_tccli_shows_the_error_code(tc3: Tc3Server, tmp_path: Path) -> None:
    done = tccli(tc3, tmp_path, "TerminateJob", "--JobId", "job-zzzzzzzz")

    assert done.returncode == 255
    assert "code:ResourceNotFound.Job" in done.stdout + done.stderr
