"""Logs of attempts: the live tails LocalDaskBackend reads while an attempt runs, and the
RedirectLocalInfo copies the runner makes at its end (batch-api.md §3, §4.8)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from batchd.compute.backend import NodeSize
from batchd.compute.local import LocalDaskBackend
from batchd.compute.logs import TAIL_BYTES
from batchd.compute.runner import run_instance
from tests.compute.conftest import SpecFactory
from tests.compute.recording import RecordingEvents, eventually

ENV_ID = "env-logs0001"
NODE_ID = "node-logs0001"


async def test_read_logs_gives_the_tails_of_a_running_attempt(make_spec: SpecFactory) -> None:
    events = RecordingEvents()
    backend = LocalDaskBackend(events)
    try:
        await backend.open_env(ENV_ID)
        await backend.add_nodes(ENV_ID, [NodeSize(NODE_ID, 1, 2)])
        await eventually(lambda: NODE_ID in events.joined, within=60)
        # More than a tail of output first: the live tail is as long as a stored one.
        spec = make_spec(
            key="job-logs0001:Task1:0:1",
            node_id="",
            env_id=ENV_ID,
            command="yes x | head -c 5000; echo started; echo warn >&2; sleep 30",
        )
        assert await backend.read_logs(ENV_ID, spec.key) is None  # not handed over yet
        backend.submit(ENV_ID, [spec])

        await eventually(lambda: spec.key in events.running, within=60)
        deadline = time.monotonic() + 30
        while True:  # the command writes on its own time: poll its files
            tails = await backend.read_logs(ENV_ID, spec.key)
            if tails is not None and tails[0].endswith(b"started\n") and tails[1]:
                break
            assert time.monotonic() < deadline, f"no live output: {tails!r}"
            await asyncio.sleep(0.05)
        out, err = tails
        assert out.endswith(b"started\n")
        assert len(out) == TAIL_BYTES
        assert err == b"warn\n"
        assert await backend.read_logs(ENV_ID, "job-logs0001:Task1:9:1") is None
        assert await backend.read_logs("env-unknown1", spec.key) is None

        await backend.kill(ENV_ID, spec.key, "TERMINATED_BY_USER")
        await eventually(lambda: events.has_ended(spec.key), within=30)
        # Reported: the tails stored with the result are the answer from now on.
        assert await backend.read_logs(ENV_ID, spec.key) is None
        result = events.end_of(spec.key).result
        assert result is not None
        assert result.stdout_tail == out
    finally:
        await backend.close()


def test_redirect_local_copies_both_streams(make_spec: SpecFactory, tmp_path: Path) -> None:
    out_file = tmp_path / "local" / "out" / "stdout.txt"
    err_file = tmp_path / "local" / "err" / "stderr.txt"
    remote = tmp_path / "remote" / "stdout.txt"
    result = run_instance(
        make_spec(
            command="echo hello; echo oops >&2; exit 4",
            stdout_redirect=remote.as_uri(),
            stdout_local=str(out_file),
            stderr_local=str(err_file),
        )
    )
    assert (result.exit_code, result.reason) == (4, "EXIT_CODE_NON_ZERO")
    assert out_file.read_bytes() == b"hello\n"
    assert err_file.read_bytes() == b"oops\n"
    assert remote.read_bytes() == b"hello\n"  # RedirectInfo still goes its own way


def test_failed_local_redirect_fails_a_successful_attempt(
    make_spec: SpecFactory, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_instance(make_spec(command="echo hi", stdout_local=str(blocker / "stdout.log")))
    assert (result.exit_code, result.reason) == (0, "OUTPUT_MAPPING_FAILED")
    assert "stdout.log" in result.detail
