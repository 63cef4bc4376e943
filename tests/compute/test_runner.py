"""run_instance called directly: exit codes, environment, Commands, tails, timeout and kill."""

from __future__ import annotations

import os
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from batchd.compute import staging
from batchd.compute.runner import InstanceResult, kill_instance, read_tails, run_instance
from tests.compute.conftest import NODE_ID, SpecFactory
from tests.compute.procfs import is_alive, live_group_members, read_pid
from tests.support import wait_until


def test_exit_zero_is_success(make_spec: SpecFactory) -> None:
    spec = make_spec(command="echo hello; pwd")
    before = time.time()

    result = run_instance(spec)

    assert (result.key, result.node_id) == (spec.key, NODE_ID)
    assert (result.exit_code, result.reason) == (0, "")
    assert result.stdout_tail == f"hello\n{spec.work_dir}\n".encode()
    assert result.stderr_tail == b""
    assert result.started_at is not None
    assert before <= result.started_at <= result.ended_at
    assert (Path(spec.work_dir) / "stdout.log").read_bytes() == result.stdout_tail


def test_non_zero_exit_is_reported_with_stderr(make_spec: SpecFactory) -> None:
    result = run_instance(make_spec(command="echo oops >&2; exit 7"))

    assert (result.exit_code, result.reason) == (7, "EXIT_CODE_NON_ZERO")
    assert result.detail == "command exited with code 7"
    assert result.stderr_tail == b"oops\n"


def test_death_by_signal_counts_as_shell_exit_code(make_spec: SpecFactory) -> None:
    result = run_instance(make_spec(command="kill -KILL $$"))

    assert (result.exit_code, result.reason) == (137, "EXIT_CODE_NON_ZERO")
    assert "SIGKILL" in result.detail


def test_batch_variables_and_user_variables(make_spec: SpecFactory) -> None:
    spec = make_spec(
        command="env > env.txt",
        index=2,
        attempt=3,
        env_vars=(("GREETING", "hello world"), ("BATCH_JOB_ID", "job-evil0000")),
    )

    result = run_instance(spec)

    assert result.reason == ""
    lines = (Path(spec.work_dir) / "env.txt").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines if "=" in line)
    assert env["BATCH_JOB_ID"] == "job-abc12345"  # the user's value did not override it
    assert env["BATCH_TASK_NAME"] == "Task1"
    assert env["BATCH_TASK_INSTANCE_NUM"] == "3"
    assert env["BATCH_TASK_INSTANCE_INDEX"] == "2"
    assert env["BATCH_TASK_INSTANCE_ATTEMPT"] == "3"
    assert env["BATCH_COMPUTE_NODE_ID"] == NODE_ID
    assert env["BATCH_ENV_ID"] == "env-abc12345"
    assert env["GREETING"] == "hello world"
    assert env["PATH"] == os.environ["PATH"]  # the node's own environment is kept


def test_commands_do_not_see_batchd_s_own_settings(
    make_spec: SpecFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Workers inherit the server's environment, where its settings may come from.
    monkeypatch.setenv("BATCHD_SECRET_KEY", "the-api-secret")
    monkeypatch.setenv("BATCHD_DATABASE_URL", "postgresql+psycopg://batchd:password@db/batchd")
    spec = make_spec(command="env > env.txt", env_vars=(("BATCHD_MINE", "the user's own"),))

    assert run_instance(spec).reason == ""
    env = (Path(spec.work_dir) / "env.txt").read_text()
    assert "the-api-secret" not in env
    assert "password" not in env
    assert "BATCHD_MINE=the user's own" in env  # a job's own variables are its own


def test_commands_run_in_order(make_spec: SpecFactory) -> None:
    spec = make_spec(commands=("echo one > a", "cat a > b", "echo three"))

    result = run_instance(spec)

    assert (result.exit_code, result.reason) == (0, "")
    assert (Path(spec.work_dir) / "b").read_text() == "one\n"
    assert result.stdout_tail == b"three\n"


def test_commands_stop_at_the_first_failure(make_spec: SpecFactory) -> None:
    spec = make_spec(commands=("echo one > a", "echo two; exit 3", "echo three > c"))

    result = run_instance(spec)

    assert (result.exit_code, result.reason) == (3, "EXIT_CODE_NON_ZERO")
    assert (Path(spec.work_dir) / "a").exists()
    assert not (Path(spec.work_dir) / "c").exists()
    assert result.stdout_tail == b"two\n"


def test_spec_needs_exactly_one_of_command_and_commands(make_spec: SpecFactory) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        make_spec(command="true", commands=("true",))
    with pytest.raises(ValueError, match="exactly one"):
        make_spec(command=None)


def test_tails_keep_the_last_2048_bytes(make_spec: SpecFactory, tmp_path: Path) -> None:
    spec = make_spec(command="head -c 5000 /dev/zero | tr '\\0' a; printf END")

    result = run_instance(spec)

    assert len(result.stdout_tail) == 2048
    assert result.stdout_tail.endswith(b"aEND")
    assert read_tails(spec.work_dir) == (result.stdout_tail, b"")
    assert read_tails(str(tmp_path / "nowhere")) == (b"", b"")


def test_a_silent_command_creates_no_log_files(make_spec: SpecFactory) -> None:
    spec = make_spec(command="true")

    result = run_instance(spec)

    assert (result.exit_code, result.stdout_tail, result.stderr_tail) == (0, b"", b"")
    assert sorted(os.listdir(spec.work_dir)) == []


def test_only_the_stream_written_to_gets_a_file(make_spec: SpecFactory) -> None:
    spec = make_spec(command="echo warning >&2")

    result = run_instance(spec)

    assert sorted(os.listdir(spec.work_dir)) == ["stderr.log"]
    assert (Path(spec.work_dir) / "stderr.log").read_bytes() == result.stderr_tail == b"warning\n"


def test_output_larger_than_a_pipe_is_copied_whole(make_spec: SpecFactory) -> None:
    # 3 MiB on both streams at once: a runner that stopped reading either would deadlock.
    three_mib = "head -c 3145728 /dev/zero | tr '\\0'"
    spec = make_spec(command=f"{three_mib} o & {three_mib} e >&2; wait")

    result = run_instance(spec)

    assert result.reason == ""
    assert (Path(spec.work_dir) / "stdout.log").read_bytes() == b"o" * 3145728
    assert (Path(spec.work_dir) / "stderr.log").read_bytes() == b"e" * 3145728
    assert result.stdout_tail == b"o" * 2048


def test_output_appends_to_logs_of_an_earlier_run(make_spec: SpecFactory) -> None:
    spec = make_spec(command="echo second")
    os.makedirs(spec.work_dir)
    (Path(spec.work_dir) / "stdout.log").write_bytes(b"first\n")

    result = run_instance(spec)

    assert (Path(spec.work_dir) / "stdout.log").read_bytes() == b"first\nsecond\n"
    assert result.stdout_tail == b"first\nsecond\n"


def test_output_of_a_running_command_is_readable_at_once(make_spec: SpecFactory) -> None:
    spec = make_spec(command="echo started; sleep 30")
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(run_instance, spec)
        wait_until(lambda: read_tails(spec.work_dir)[0] == b"started\n", timeout=10)
        assert kill_instance(spec.key)
        assert running.result(timeout=10).reason == "TERMINATED_BY_USER"


def test_background_leftovers_are_killed_when_the_command_ends(make_spec: SpecFactory) -> None:
    spec = make_spec(command="sleep 100 & echo $! > bg")

    result = run_instance(spec)

    assert result.reason == ""
    pid = read_pid(Path(spec.work_dir) / "bg")
    assert pid is not None
    assert not is_alive(pid)


def test_timeout_kills_the_whole_process_group(make_spec: SpecFactory) -> None:
    spec = make_spec(command="echo $$ > pgid; sh -c 'sleep 100 & sleep 100'", timeout_seconds=0.5)

    result = run_instance(spec)

    assert (result.exit_code, result.reason) == (None, "TIMEOUT")
    assert "timeout of 0.5 s" in result.detail
    assert result.started_at is not None
    assert result.ended_at - result.started_at < 0.5 + 2.0
    pgid = read_pid(Path(spec.work_dir) / "pgid")
    assert pgid is not None
    assert live_group_members(pgid) == []


@pytest.mark.parametrize(
    ("reason", "expected"), [(None, "TERMINATED_BY_USER"), ("NODE_DELETED", "NODE_DELETED")]
)
def test_kill_instance_from_another_thread(
    make_spec: SpecFactory, reason: str | None, expected: str
) -> None:
    # The group ignores SIGTERM, so only the SIGKILL after the grace ends it.
    spec = make_spec(command="trap '' TERM; echo $$ > pgid; sleep 100 & sleep 100")
    pgid_file = Path(spec.work_dir) / "pgid"
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(run_instance, spec)
        wait_until(lambda: read_pid(pgid_file) is not None)
        killed_at = time.monotonic()

        assert kill_instance(spec.key) if reason is None else kill_instance(spec.key, reason)
        result: InstanceResult = future.result(timeout=5)

    assert time.monotonic() - killed_at < 2.0
    assert (result.exit_code, result.reason) == (None, expected)
    pgid = read_pid(pgid_file)
    assert pgid is not None
    assert live_group_members(pgid) == []
    assert not kill_instance(spec.key)  # finished attempts are no longer known


def test_kill_during_staging_prevents_the_launch(
    make_spec: SpecFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_stage_in(source: str, destination: str, work_dir: str) -> None:
        entered.set()
        release.wait(timeout=10)

    monkeypatch.setattr(staging, "stage_in", slow_stage_in)
    spec = make_spec(command="touch ran", input_mappings=(("/big/input", "input"),))
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(run_instance, spec)
        assert entered.wait(timeout=10)

        assert kill_instance(spec.key)
        release.set()
        result: InstanceResult = future.result(timeout=5)

    assert (result.exit_code, result.reason, result.started_at) == (
        None,
        "TERMINATED_BY_USER",
        None,
    )
    assert not (Path(spec.work_dir) / "ran").exists()


def test_kill_instance_of_an_unknown_key_is_false() -> None:
    assert kill_instance("job-nothere0/Task1/0/1") is False


def test_docker_unavailable_runs_nothing(
    make_spec: SpecFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    spec = make_spec(command="touch ran", docker_image="alpine:3")

    result = run_instance(spec)

    assert (result.exit_code, result.reason) == (None, "DOCKER_UNAVAILABLE")
    assert "alpine:3" in result.detail
    assert result.started_at is None
    assert not Path(spec.work_dir).exists()


def test_docker_command_line(
    make_spec: SpecFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_FILE"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    args_file = tmp_path / "args.txt"
    spec = make_spec(
        command="echo hi",
        docker_image="alpine:3",
        docker_run_option="--cpus 2 --label 'a b'",
        env_vars=(("ARGS_FILE", str(args_file)),),
    )

    result = run_instance(spec)

    assert result.reason == ""
    args = args_file.read_text().splitlines()
    assert args[:8] == [
        "run",
        "--rm",
        "--name",
        "batchd-job-abc12345.Task1.0.1-0",
        "-v",
        f"{spec.work_dir}:/batch",
        "-w",
        "/batch",
    ]
    assert args[-8:] == ["--cpus", "2", "--label", "a b", "alpine:3", "/bin/sh", "-c", "echo hi"]
    passed = {args[i + 1] for i, arg in enumerate(args) if arg == "-e"}
    assert {"BATCH_JOB_ID", "BATCH_TASK_INSTANCE_ATTEMPT", "ARGS_FILE"} <= passed


def test_unparseable_docker_run_option(make_spec: SpecFactory) -> None:
    result = run_instance(make_spec(docker_image="alpine:3", docker_run_option="--label 'open"))

    assert result.reason == "DOCKER_UNAVAILABLE"
    assert "DockerRunOption" in result.detail


def test_spec_and_result_survive_pickling(make_spec: SpecFactory) -> None:
    spec = make_spec(env_vars=(("A", "1"),), input_mappings=(("/a", "b"),))
    result = run_instance(spec)

    assert pickle.loads(pickle.dumps(spec)) == spec
    assert pickle.loads(pickle.dumps(result)) == result
