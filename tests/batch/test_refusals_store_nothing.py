"""Every request-rule refusal of tests/api/tc3/test_models.py, sent to the real server through
the official SDK (its generic `call_json`, which sends the parameters as they are): each answers
its exact code and stores nothing (no job, task, environment, node, event, ClientToken or
message), on each database. Then the refusals of wrong states and unknown names.

One server per database for all the rows: a refused request must leave it as it was, so the
rows cannot disturb each other.
"""

from __future__ import annotations

from typing import Any

from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from tests.api.tc3.test_models import REFUSALS
from tests.api.tc3.test_notification_config import stored
from tests.batch.conftest import BatchApi
from tests.batch.conftest import command_task as _task
from tests.support import RunningServer


def _refusal(batch: BatchApi, action: str, data: dict[str, Any]) -> str:
    try:
        batch.client.call_json(action, data)
    except TencentCloudSDKException as error:
        return str(error.code)
    return "(accepted)"


def test_every_refused_request_answers_its_code_and_stores_nothing(
    server: RunningServer, batch: BatchApi
) -> None:
    before = stored(server)
    wrong = [
        f"{name}: {action} answered {answered}, not {code}"
        for name, action, data, code in REFUSALS
        if (answered := _refusal(batch, action, data)) != code
    ]

    assert wrong == []
    assert stored(server) == before


def test_wrong_states_and_unknown_names_answer_the_spec_s_codes(batch: BatchApi) -> None:
    env_id = batch.env(nodes=1)
    done = batch.submit([_task("t", env_id, "true")])
    assert batch.finished(done)["JobState"] == "SUCCEED"
    running = batch.submit([_task("slow", env_id, "sleep 60")])
    batch.until("DescribeJob", {"JobId": running}, lambda d: d["JobState"] == "RUNNING")

    refusals: dict[str, tuple[str, dict[str, Any]]] = {
        "retry a succeeded job": ("RetryJobs", {"JobIds": [done]}),
        "delete a running job": ("DeleteJob", {"JobId": running}),
        "describe an unknown task": ("DescribeTask", {"JobId": done, "TaskName": "nope"}),
        "terminate an unknown instance": (
            "TerminateTaskInstance",
            {"JobId": running, "TaskName": "slow", "TaskInstanceIndex": 5},
        ),
        "describe an unknown job": ("DescribeJob", {"JobId": "job-00000000"}),
        "delete an unknown environment": ("DeleteComputeEnv", {"EnvId": "env-00000000"}),
    }
    answered = {what: _refusal(batch, *call) for what, call in refusals.items()}

    assert answered == {
        "retry a succeeded job": "UnsupportedOperation",
        "delete a running job": "ResourceInUse.Job",
        "describe an unknown task": "ResourceNotFound.Task",
        "terminate an unknown instance": "ResourceNotFound.TaskInstance",
        "describe an unknown job": "ResourceNotFound.Job",
        "delete an unknown environment": "ResourceNotFound.ComputeEnv",
    }
    assert batch("DescribeJob", {"JobId": running})["JobState"] == "RUNNING"  # still there
    assert batch("DescribeJob", {"JobId": done})["JobState"] == "SUCCEED"  # not retried
    batch("TerminateJob", {"JobId": running})
    assert batch.finished(running)["JobState"] == "FAILED"
