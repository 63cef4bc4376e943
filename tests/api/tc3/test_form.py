"""Flattened parameters (GET query, signature-v1 form) rebuilt into request objects."""

from __future__ import annotations

import pytest

from batchd.api.tc3 import form
from batchd.api.tc3.errors import code_for
from batchd.api.tc3.models import REQUESTS
from batchd.domain import errors


def test_decimal_segments_become_lists_in_index_order() -> None:
    pairs = [
        ("Job.Tasks.1.TaskName", "b"),
        ("Job.Tasks.0.TaskName", "a"),
        ("Job.Tasks.0.Application.Commands.0.Command", "x"),
        ("Placement.Zone", "z"),
    ]

    assert form.rebuild(pairs, REQUESTS["SubmitJob"]) == {
        "Job": {
            "Tasks": [
                {"TaskName": "a", "Application": {"Commands": [{"Command": "x"}]}},
                {"TaskName": "b"},
            ]
        },
        "Placement": {"Zone": "z"},
    }


def test_values_take_the_model_types() -> None:
    pairs = [
        ("Job.Priority", "5"),
        ("Job.Tasks.0.RestartComputeNode", "True"),
        ("Job.Tasks.1.RestartComputeNode", "false"),
        ("Job.Tasks.0.TaskName", "10"),
        ("Job.Tasks.0.Application.Docker.DelayOnRetry", "-3"),
        ("Job.Tasks.0.ComputeEnv.EnvData.InstanceTypeOptions.CPU", "4"),
        ("Job.Tasks.0.ComputeEnv.EnvData.SystemDisk.Encrypt", "True"),
        ("Placement.ProjectId", "0"),
    ]

    rebuilt = form.rebuild(pairs, REQUESTS["SubmitJob"])

    job = rebuilt["Job"]
    assert job["Priority"] == 5
    assert job["Tasks"][0]["RestartComputeNode"] is True
    assert job["Tasks"][1]["RestartComputeNode"] is False
    assert job["Tasks"][0]["TaskName"] == "10"
    assert job["Tasks"][0]["Application"]["Docker"]["DelayOnRetry"] == -3
    env_data = job["Tasks"][0]["ComputeEnv"]["EnvData"]
    assert env_data["InstanceTypeOptions"]["CPU"] == 4
    assert env_data["SystemDisk"]["Encrypt"] is True
    assert rebuilt["Placement"]["ProjectId"] == 0


def test_list_of_integers_takes_the_item_type() -> None:
    pairs = [("TaskInstanceIndexes.0", "3"), ("TaskInstanceIndexes.1", "1")]

    rebuilt = form.rebuild(pairs, REQUESTS["DescribeTaskLogs"])

    assert rebuilt == {"TaskInstanceIndexes": [3, 1]}


def test_text_that_does_not_fit_is_left_for_the_model_to_refuse() -> None:
    pairs = [("Limit", "ten"), ("Offset", "1.5"), ("Unknown.0", "x")]

    assert form.rebuild(pairs, REQUESTS["DescribeJobs"]) == {
        "Limit": "ten",
        "Offset": "1.5",
        "Unknown": ["x"],
    }


def test_legacy_notifications_keep_their_shape() -> None:
    pairs = [
        ("Job.notifications.0.topic_name", "t"),
        ("Job.notifications.0.event_configs.0.event_name", "JobFailed"),
    ]

    rebuilt = form.rebuild(pairs, REQUESTS["SubmitJob"])

    assert rebuilt == {
        "Job": {
            "notifications": [{"topic_name": "t", "event_configs": [{"event_name": "JobFailed"}]}]
        }
    }


@pytest.mark.parametrize(
    "pairs",
    [
        [("JobIds.0", "a"), ("JobIds.0", "b")],
        [("JobIds.1", "a")],
        [("JobIds.0", "a"), ("JobIds.2", "b")],
        [("Filters.0", "x"), ("Filters.0.Name", "zone")],
        [("Filters..Name", "zone")],
    ],
    ids=["repeated", "not-from-zero", "gap", "value-and-object", "empty-segment"],
)
def test_malformed_keys_answer_invalid_parameter(pairs: list[tuple[str, str]]) -> None:
    with pytest.raises(errors.BatchdError) as caught:
        form.rebuild(pairs, REQUESTS["DescribeJobs"])

    assert code_for(caught.value) == "InvalidParameter"
