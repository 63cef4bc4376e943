"""Jobs that really run on Dask workers, driven by the official Batch SDK."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tests.batch.conftest import BatchApi, command_task, shared_file


def _stdout(log: str) -> bytes:
    prefix, _, data = log.partition("base64,")
    assert prefix.startswith("data:text/plain")
    return base64.b64decode(data)


def test_a_dag_runs_in_order_with_its_environment_variables(batch: BatchApi) -> None:
    env_id = batch.env(nodes=2)
    job_id = batch.submit(
        [
            command_task(
                "first",
                env_id,
                "echo $BATCH_JOB_ID $BATCH_TASK_NAME $BATCH_TASK_INSTANCE_INDEX "
                "$BATCH_TASK_INSTANCE_NUM $GREETING",
                TaskInstanceNum=3,
                EnvVars=[{"Name": "GREETING", "Value": "hi"}],
            ),
            command_task("second", env_id, "echo done"),
        ],
        JobName="dag",
        Dependences=[{"StartTask": "first", "EndTask": "second"}],
    )
    job = batch.finished(job_id)
    assert job["JobState"] == "SUCCEED"
    assert job["TaskMetrics"]["SucceedCount"] == 2
    assert job["TaskInstanceMetrics"]["SucceedCount"] == 4
    first, second = job["TaskSet"]
    assert first["EndTime"] <= second["CreateTime"] or first["EndTime"] <= second["EndTime"]

    logs = batch("DescribeTaskLogs", {"JobId": job_id, "TaskName": "first", "Limit": 10})
    assert logs["TotalCount"] == 3
    lines = sorted(_stdout(entry["StdoutLog"]) for entry in logs["TaskInstanceLogSet"])
    assert lines == [f"{job_id} first {i} 3 hi\n".encode() for i in range(3)]

    task = batch("DescribeTask", {"JobId": job_id, "TaskName": "first"})
    assert [i["TaskInstanceState"] for i in task["TaskInstanceSet"]] == ["SUCCEED"] * 3
    assert all(i["ExitCode"] == 0 and i["RunningTime"] for i in task["TaskInstanceSet"])


def test_a_failing_task_is_retried_then_fails_the_job_and_skips_its_dependents(
    batch: BatchApi,
) -> None:
    env_id = batch.env(nodes=1)
    job_id = batch.submit(
        [
            command_task("flaky", env_id, "echo oops >&2; exit 3", MaxRetryCount=2),
            command_task("after", env_id, "true"),
        ],
        Dependences=[{"StartTask": "flaky", "EndTask": "after"}],
    )
    job = batch.finished(job_id)
    assert job["JobState"] == "FAILED"
    assert job["StateReason"] == "task flaky failed"
    flaky = batch("DescribeTask", {"JobId": job_id, "TaskName": "flaky"})["TaskInstanceSet"][0]
    assert (flaky["TaskInstanceState"], flaky["ExitCode"], flaky["StateReason"]) == (
        "FAILED",
        3,
        "EXIT_CODE_NON_ZERO",
    )
    after = batch("DescribeTask", {"JobId": job_id, "TaskName": "after"})["TaskInstanceSet"][0]
    assert (after["TaskInstanceState"], after["StateReason"]) == ("FAILED", "DEPENDENCE_FAILED")
    logs = batch("DescribeTaskLogs", {"JobId": job_id, "TaskName": "flaky"})
    assert base64.b64decode(logs["TaskInstanceLogSet"][0]["StderrLog"].split(",")[1]) == b"oops\n"
    # The batchd extension that tells each instance's attempt: MaxRetryCount 2, three attempts.
    params = {"JobId": job_id, "TaskName": "flaky"}
    attempts = batch.client.call_json("DescribeTaskInstanceAttempts", params)["Response"]
    assert (attempts["TotalCount"], attempts["TaskInstanceAttemptSet"]) == (
        1,
        [{"TaskInstanceIndex": 0, "Attempt": 3}],
    )

    batch("RetryJobs", {"JobIds": [job_id]})
    job = batch.finished(job_id)
    assert job["JobState"] == "FAILED"
    batch("DeleteJob", {"JobId": job_id})
    with pytest.raises(Exception, match=r"ResourceNotFound\.Job"):
        batch("DescribeJob", {"JobId": job_id})


def test_terminate_job_kills_the_running_command(batch: BatchApi) -> None:
    env_id = batch.env(nodes=1)
    job_id = batch.submit([command_task("sleepy", env_id, "sleep 300")])
    batch.until("DescribeJob", {"JobId": job_id}, lambda d: d["JobState"] == "RUNNING")
    batch("TerminateJob", {"JobId": job_id})
    job = batch.finished(job_id, timeout=20)
    assert job["JobState"] == "FAILED"
    instance = batch("DescribeTask", {"JobId": job_id, "TaskName": "sleepy"})["TaskInstanceSet"][0]
    assert instance["StateReason"] == "TERMINATED_BY_USER"
    assert job["NextAction"] == ""


def test_a_job_of_higher_priority_runs_before_the_waiting_instances_of_others(
    batch: BatchApi, shared_dir: Path
) -> None:
    env_id = batch.env(nodes=1)
    order = shared_file(shared_dir, "order")
    # Instance 0 holds the only node while the job of priority 100 arrives; 1-3 wait.
    command = f"echo low$BATCH_TASK_INSTANCE_INDEX >> {order}; "
    command += '[ "$BATCH_TASK_INSTANCE_INDEX" = 0 ] && sleep 2; true'
    low = batch.submit([command_task("t", env_id, command, TaskInstanceNum=4)])
    batch.until(
        "DescribeTask",
        {"JobId": low, "TaskName": "t"},
        lambda d: d["TaskInstanceSet"][0]["TaskInstanceState"] == "RUNNING",
    )
    high = batch.submit([command_task("t", env_id, f"echo high >> {order}")], Priority=100)

    assert batch.finished(high)["JobState"] == "SUCCEED"
    assert batch.finished(low)["JobState"] == "SUCCEED"
    assert order.read_text().split() == ["low0", "high", "low1", "low2", "low3"]


def test_the_environment_s_input_mappings_come_before_the_task_s(
    batch: BatchApi, tmp_path: Path
) -> None:
    for name in ("shared", "env-only", "task-only"):
        (tmp_path / name).write_text(f"{name} from the source\n")
    (tmp_path / "override").write_text("the task's version\n")
    env_inputs = [
        {"SourcePath": f"file://{tmp_path}/env-only", "DestinationPath": "a.txt"},
        {"SourcePath": f"file://{tmp_path}/shared", "DestinationPath": "b.txt"},
    ]
    env_id = batch.env(nodes=1, name="with-inputs", InputMappings=env_inputs)
    inputs = [
        {"SourcePath": f"file://{tmp_path}/task-only", "DestinationPath": "c.txt"},
        {"SourcePath": f"file://{tmp_path}/override", "DestinationPath": "b.txt"},
    ]
    job_id = batch.submit(
        [command_task("t", env_id, "cat a.txt b.txt c.txt", InputMappings=inputs)]
    )

    assert batch.finished(job_id)["JobState"] == "SUCCEED"
    answer = batch("DescribeTaskLogs", {"JobId": job_id, "TaskName": "t"})
    assert _stdout(answer["TaskInstanceLogSet"][0]["StdoutLog"]) == (
        b"env-only from the source\nthe task's version\ntask-only from the source\n"
    )


def test_timeout_fails_the_attempt(batch: BatchApi) -> None:
    env_id = batch.env(nodes=1)
    job_id = batch.submit([command_task("slow", env_id, "sleep 30", Timeout=1)])
    batch.finished(job_id, timeout=30)
    instance = batch("DescribeTask", {"JobId": job_id, "TaskName": "slow"})["TaskInstanceSet"][0]
    assert instance["StateReason"] == "TIMEOUT"


def test_submit_job_is_idempotent_by_client_token(batch: BatchApi) -> None:
    env_id = batch.env(nodes=1)
    params = {
        "Placement": {"Zone": "ap-guangzhou-2"},
        "ClientToken": "token-1",
        "Job": {"Tasks": [command_task("t", env_id, "true")]},
    }
    assert batch("SubmitJob", params)["JobId"] == batch("SubmitJob", params)["JobId"]
    assert batch("DescribeJobs", {})["TotalCount"] == 1


def test_bad_jobs_are_refused_and_nothing_is_stored(batch: BatchApi) -> None:
    env_id = batch.env(nodes=1)
    cases: dict[str, dict[str, Any]] = {
        "InvalidParameterValue.DependenceUnfeasible": dict(
            tasks=[command_task("a", env_id, "true"), command_task("b", env_id, "true")],
            Dependences=[{"StartTask": "a", "EndTask": "b"}, {"StartTask": "b", "EndTask": "a"}],
        ),
        "InvalidParameterValue.DependenceNotFoundTaskName": dict(
            tasks=[command_task("a", env_id, "true")],
            Dependences=[{"StartTask": "a", "EndTask": "ghost"}],
        ),
        "InvalidParameter.TaskName": dict(
            tasks=[command_task("a", env_id, "true"), command_task("a", env_id, "true")]
        ),
        "ResourceNotFound.ComputeEnv": dict(tasks=[command_task("a", "env-00000000", "true")]),
    }
    for code, case in cases.items():
        tasks = case.pop("tasks")
        with pytest.raises(Exception, match=code.replace(".", r"\.")):
            batch.submit(tasks, **case)
    assert batch("DescribeJobs", {})["TotalCount"] == 0


def test_an_anonymous_environment_runs_its_task_and_goes_away(batch: BatchApi) -> None:
    task = {
        "TaskName": "own-env",
        "TaskInstanceNum": 2,
        "ComputeEnv": {"EnvType": "MANAGED", "EnvData": {"InstanceType": "S5.SMALL1"}},
        "Application": {"DeliveryForm": "LOCAL", "Command": "echo $BATCH_ENV_ID"},
    }
    job_id = batch.submit([task])
    job = batch.finished(job_id, timeout=90)
    assert job["JobState"] == "SUCCEED"
    logs = batch("DescribeTaskLogs", {"JobId": job_id, "TaskName": "own-env"})
    env_ids = {_stdout(entry["StdoutLog"]).strip() for entry in logs["TaskInstanceLogSet"]}
    (env_id,) = env_ids
    assert env_id.startswith(b"env-")
    # Anonymous environments are not listed, and this one is torn down once its task ended.
    assert batch("DescribeComputeEnvs", {})["TotalCount"] == 0
    batch.until("DescribeJobs", {}, lambda _: _env_gone(batch, env_id.decode()), timeout=60)


def _env_gone(batch: BatchApi, env_id: str) -> bool:
    try:
        batch("DescribeComputeEnv", {"EnvId": env_id})
    except Exception as error:
        return "ResourceNotFound.ComputeEnv" in str(error)
    return False


def test_filters_combine_and_tags_filter(batch: BatchApi) -> None:
    env_id = batch.env(nodes=1)
    tagged = batch.submit([command_task("t", env_id, "true")], Tags=[{"Key": "team", "Value": "a"}])
    plain = batch.submit([command_task("t", env_id, "exit 1")])
    batch.finished(tagged)
    batch.finished(plain)

    def ids(filters: list[dict[str, Any]]) -> set[str]:
        return {j["JobId"] for j in batch("DescribeJobs", {"Filters": filters})["JobSet"]}

    assert ids([{"Name": "tag-key", "Values": ["team"]}]) == {tagged}
    assert ids([{"Name": "tag:team", "Values": ["a", "b"]}]) == {tagged}
    assert ids([{"Name": "tag-value", "Values": ["nope"]}]) == set()
    assert ids([{"Name": "job-state", "Values": ["FAILED", "SUCCEED"]}]) == {tagged, plain}
    both = [
        {"Name": "job-state", "Values": ["FAILED"]},
        {"Name": "job-state", "Values": ["SUCCEED"]},
    ]
    assert ids(both) == set()


def test_a_zone_longer_than_the_store_keeps_is_refused(batch: BatchApi) -> None:
    with pytest.raises(Exception, match=r"InvalidParameterValue\.UnavailableZone"):
        batch(
            "SubmitJob",
            {
                "Placement": {"Zone": "ap-guangzhou-" + "9" * 60},
                "Job": {"Tasks": [command_task("t", "env-00000000", "true")]},
            },
        )
    assert batch("DescribeJobs", {})["TotalCount"] == 0


def test_a_zone_outside_the_region_is_refused(batch: BatchApi) -> None:
    with pytest.raises(Exception, match=r"InvalidZone\.MismatchRegion"):
        batch(
            "SubmitJob",
            {
                "Placement": {"Zone": "eu-west-1"},
                "Job": {"Tasks": [command_task("t", "env-00000000", "true")]},
            },
        )
    assert batch("DescribeJobs", {})["TotalCount"] == 0


def test_environment_filters_combine(batch: BatchApi) -> None:
    first = batch.env(nodes=1, name="first")
    second = batch.env(nodes=1, name="second")

    def env_ids(filters: list[dict[str, Any]]) -> set[str]:
        answer = batch("DescribeComputeEnvs", {"Filters": filters})
        return {env["EnvId"] for env in answer["ComputeEnvSet"]}

    assert env_ids([{"Name": "resource-type", "Values": ["CVM"]}]) == {first, second}
    assert env_ids([{"Name": "resource-type", "Values": ["DASK"]}]) == set()
    both = [
        {"Name": "resource-type", "Values": ["CVM"]},
        {"Name": "env-name", "Values": ["second"]},
    ]
    assert env_ids(both) == {second}

    # Activities of several nodes at once: every value of the compute-node-id filter counts.
    both_nodes = batch.env(nodes=2, name="pair")
    n1, n2 = sorted(
        n["ComputeNodeId"]
        for n in batch("DescribeComputeEnv", {"EnvId": both_nodes})["ComputeNodeSet"]
    )

    def nodes_of_activities(values: list[str]) -> set[str]:
        node_filter = {"Name": "compute-node-id", "Values": values}
        answer = batch(
            "DescribeComputeEnvActivities", {"EnvId": both_nodes, "Filters": node_filter}
        )
        return {activity["ComputeNodeId"] for activity in answer["ActivitySet"]}

    assert nodes_of_activities([n1, n2]) == {n1, n2}
    assert nodes_of_activities([n2, "node-zzzzzzzz"]) == {n2}
