"""The request models against the SDK's models and tccli's api.json, and their specific codes."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import tccli
from pydantic import BaseModel
from tencentcloud.batch.v20170312 import models as sdk_models

from batchd.api.tc3 import form, validation
from batchd.api.tc3.actions import CLOUD_ONLY, KNOWN, SELF_HOSTED
from batchd.api.tc3.errors import code_for
from batchd.api.tc3.models import REQUESTS
from batchd.domain import errors
from tests.api.tc3.payloads import RICH_CREATE_COMPUTE_ENV, RICH_SUBMIT_JOB

API_JSON = Path(tccli.__file__).parent / "services" / "batch" / "v20170312" / "api.json"
_NESTED = re.compile(
    r":type (\w+): (?:list of (\w+)|:class:`tencentcloud\.batch\.v20170312\.models\.(\w+)`)"
)


def sdk_fields(sdk_class: Any) -> dict[str, str | None]:
    """Field name -> nested SDK class name (None for scalars and scalar lists), read from the
    attributes of an instance and the `:type X:` lines of the SDK's docstring."""
    names = [name[1:] for name in vars(sdk_class())]
    doc = vars(sdk_class)["__init__"].__doc__ or ""
    nested = {
        match[1]: match[2] or match[3]
        for match in _NESTED.finditer(doc)
        if hasattr(sdk_models, match[2] or match[3])
    }
    return {name: nested.get(name) for name in names}


def nested_model(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    kind = form.unwrap(model.model_fields[name].annotation)
    if getattr(kind, "__origin__", None) is list:
        kind = form.unwrap(kind.__args__[0])
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def pairs_to_check() -> list[tuple[str, type[BaseModel], Any]]:
    """(path, our model, SDK class) for every object reachable from a request."""
    found: list[tuple[str, type[BaseModel], Any]] = []
    pending: list[tuple[str, type[BaseModel], Any]] = [
        (action, REQUESTS[action], getattr(sdk_models, f"{action}Request"))
        for action in sorted(REQUESTS)
    ]
    while pending:
        path, model, sdk_class = pending.pop()
        found.append((path, model, sdk_class))
        for name, sdk_nested in sdk_fields(sdk_class).items():
            ours = nested_model(model, name) if name in model.model_fields else None
            if sdk_nested is not None and ours is not None:
                pending.append((f"{path}.{name}", ours, getattr(sdk_models, sdk_nested)))
    return found


def test_every_action_of_the_api_is_known() -> None:
    api = json.loads(API_JSON.read_text())

    assert set(api["actions"]) == KNOWN
    assert set(REQUESTS) == SELF_HOSTED
    assert not SELF_HOSTED & CLOUD_ONLY


PAIRS = pairs_to_check()


@pytest.mark.parametrize(("path", "model", "sdk_class"), PAIRS, ids=[path for path, _, _ in PAIRS])
def test_model_accepts_exactly_the_sdk_fields(
    path: str, model: type[BaseModel], sdk_class: Any
) -> None:
    expected = sdk_fields(sdk_class)

    assert set(model.model_fields) == set(expected), path
    for name, sdk_nested in expected.items():
        assert (nested_model(model, name) is None) == (sdk_nested is None), f"{path}.{name}"


def test_required_fields_are_required_by_the_api() -> None:
    objects = json.loads(API_JSON.read_text())["objects"]
    for path, model, sdk_class in PAIRS:
        members = {member["name"]: member for member in objects[sdk_class.__name__]["members"]}
        for name, field in model.model_fields.items():
            if field.is_required():
                assert members[name].get("required"), f"{path}.{name} is optional in the API"


@pytest.mark.parametrize(
    ("action", "data"),
    [("SubmitJob", RICH_SUBMIT_JOB), ("CreateComputeEnv", RICH_CREATE_COMPUTE_ENV)],
)
def test_rich_requests_validate_and_keep_what_was_sent(action: str, data: dict[str, Any]) -> None:
    parsed = validation.parse(REQUESTS[action], data)

    assert parsed.model_dump(exclude_unset=True) == data


def refusal(action: str, data: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(errors.BatchdError) as caught:
        validation.parse(REQUESTS[action], data)
    return code_for(caught.value), caught.value.message


def job_with(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(RICH_SUBMIT_JOB)
    data["Job"].update(changes)
    return data


def task_with(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(RICH_SUBMIT_JOB)
    data["Job"]["Tasks"][0].update(changes)
    return data


def env_with(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(RICH_CREATE_COMPUTE_ENV)
    data["ComputeEnv"].update(changes)
    return data


def env_data_with(**changes: Any) -> dict[str, Any]:
    data = env_with()
    env_data = {
        key: value for key, value in data["ComputeEnv"]["EnvData"].items() if key != "InstanceType"
    }
    data["ComputeEnv"]["EnvData"] = {**env_data, **changes}
    return data


NOTIFY = {"TopicName": "t", "EventConfigs": [{"EventName": "JOB_FAILED"}]}
SCHEME = "InvalidParameterValue.RemoteStorageSchemeType"
LOCAL = {"DeliveryForm": "LOCAL", "Command": "true"}

REFUSALS: list[tuple[str, str, dict[str, Any], str]] = [
    ("job-name", "SubmitJob", job_with(JobName="x" * 61), "InvalidParameter.JobNameTooLong"),
    (
        "job-description",
        "SubmitJob",
        job_with(JobDescription="x" * 201),
        "InvalidParameter.JobDescriptionTooLong",
    ),
    ("priority-high", "SubmitJob", job_with(Priority=101), "InvalidParameterValue"),
    ("priority-negative", "SubmitJob", job_with(Priority=-1), "InvalidParameterValue.Negative"),
    ("no-tasks", "SubmitJob", job_with(Tasks=[]), "InvalidParameterValue"),
    (
        "eleven-tags",
        "SubmitJob",
        job_with(Tags=[{"Key": "k", "Value": "v"}] * 11),
        "InvalidParameterValue",
    ),
    ("target", "SubmitJob", job_with(NotificationTarget="SNS"), "InvalidParameterValue"),
    ("depend-on", "SubmitJob", job_with(TaskExecutionDependOn="ANY"), "InvalidParameterValue"),
    (
        "both-notifications",
        "SubmitJob",
        job_with(notifications=[]),
        "InvalidParameter.InvalidParameterCombination",
    ),
    (
        "topic-too-long",
        "SubmitJob",
        job_with(Notifications=[{**NOTIFY, "TopicName": "t" * 65}]),
        "InvalidParameter.NotificationTopicNameTooLong",
    ),
    (
        "topic-name",
        "SubmitJob",
        job_with(Notifications=[{**NOTIFY, "TopicName": "9lives"}]),
        "InvalidParameter.NotificationTopicName",
    ),
    (
        "no-event-configs",
        "SubmitJob",
        job_with(Notifications=[{**NOTIFY, "EventConfigs": []}]),
        "InvalidParameterValue",
    ),
    (
        "event-var-name",
        "SubmitJob",
        job_with(
            Notifications=[
                {
                    **NOTIFY,
                    "EventConfigs": [
                        {"EventName": "JOB_FAILED", "EventVars": [{"Name": "", "Value": "v"}]}
                    ],
                }
            ]
        ),
        "InvalidParameterValue",
    ),
    (
        "task-name-long",
        "SubmitJob",
        task_with(TaskName="t" * 61),
        "InvalidParameter.TaskNameTooLong",
    ),
    ("task-name-chars", "SubmitJob", task_with(TaskName="a b"), "InvalidParameter.TaskName"),
    (
        "instance-num-zero",
        "SubmitJob",
        task_with(TaskInstanceNum=0),
        "InvalidParameterValue.TaskInstanceNum",
    ),
    (
        "instance-num-high",
        "SubmitJob",
        task_with(TaskInstanceNum=10001),
        "InvalidParameterValue.TaskInstanceNum",
    ),
    ("max-retry", "SubmitJob", task_with(MaxRetryCount=11), "InvalidParameterValue.MaxRetryCount"),
    ("timeout-negative", "SubmitJob", task_with(Timeout=-5), "InvalidParameterValue.Negative"),
    ("failed-action", "SubmitJob", task_with(FailedAction="IGNORE"), "InvalidParameterValue"),
    (
        "env-id-and-compute-env",
        "SubmitJob",
        task_with(ComputeEnv={}),
        "AllowedOneAttributeInEnvIdAndComputeEnv",
    ),
    ("env-id-malformed", "SubmitJob", task_with(EnvId="env-1"), "InvalidParameter.EnvIdMalformed"),
    (
        "command-and-commands",
        "SubmitJob",
        task_with(Application={**LOCAL, "Commands": [{"Command": "x"}]}),
        "InvalidParameter.InvalidParameterCombination",
    ),
    (
        "no-command",
        "SubmitJob",
        task_with(Application={"DeliveryForm": "LOCAL"}),
        "MissingParameter",
    ),
    (
        "package-path",
        "SubmitJob",
        task_with(Application={**LOCAL, "DeliveryForm": "PACKAGE"}),
        "MissingParameter",
    ),
    (
        "client-token",
        "SubmitJob",
        {**RICH_SUBMIT_JOB, "ClientToken": "t" * 65},
        "InvalidParameterValue",
    ),
    ("env-name", "CreateComputeEnv", env_with(EnvName="e" * 61), "InvalidParameter.EnvNameTooLong"),
    (
        "env-description",
        "CreateComputeEnv",
        env_with(EnvDescription="e" * 201),
        "InvalidParameter.EnvDescriptionTooLong",
    ),
    (
        "desired-count",
        "CreateComputeEnv",
        env_with(DesiredComputeNodeCount=2001),
        "InvalidParameterValue",
    ),
    (
        "resource-retries",
        "CreateComputeEnv",
        env_with(ResourceMaxRetryCount=101),
        "InvalidParameterValue",
    ),
    (
        "inactive-action",
        "CreateComputeEnv",
        env_with(ActionIfComputeNodeInactive="IGNORE"),
        "InvalidParameterValue",
    ),
    (
        "two-sizings",
        "CreateComputeEnv",
        env_data_with(InstanceType="S5.SMALL1", InstanceTypes=["S5.SMALL1"]),
        "InvalidParameter.InvalidParameterCombination",
    ),
    (
        "types-empty",
        "CreateComputeEnv",
        env_data_with(InstanceTypes=[]),
        "InvalidParameterValue.InstanceTypesEmpty",
    ),
    (
        "types-duplicate",
        "CreateComputeEnv",
        env_data_with(InstanceTypes=["A", "A"]),
        "InvalidParameterValue.InstanceTypeDuplicate",
    ),
    (
        "charge-type",
        "CreateComputeEnv",
        env_data_with(InstanceChargeType="PREPAID"),
        "InvalidParameterValue.UnsupportedBatchInstanceChargeType",
    ),
    (
        "ipv6-negative",
        "CreateComputeEnv",
        env_data_with(VirtualPrivateCloud={"VpcId": "v", "SubnetId": "s", "Ipv6AddressCount": -1}),
        "InvalidParameterValue.Negative",
    ),
    (
        "jobs-ids-and-filters",
        "DescribeJobs",
        {"JobIds": [], "Filters": []},
        "InvalidParameter.InvalidParameterCombination",
    ),
    (
        "jobs-filter-name",
        "DescribeJobs",
        {"Filters": [{"Name": "colour", "Values": []}]},
        "InvalidFilter",
    ),
    (
        "jobs-filter-values",
        "DescribeJobs",
        {"Filters": [{"Name": "tag:team", "Values": ["v"] * 11}]},
        "InvalidParameterValue.LimitExceeded",
    ),
    ("retry-none", "RetryJobs", {"JobIds": []}, "InvalidParameterValue"),
    ("retry-many", "RetryJobs", {"JobIds": ["job-abcdefgh"] * 101}, "InvalidParameterValue"),
    (
        "task-limit",
        "DescribeTask",
        {"JobId": "job-abcdefgh", "TaskName": "t", "Limit": 1001},
        "InvalidParameterValue",
    ),
    (
        "task-filter",
        "DescribeTask",
        {"JobId": "job-abcdefgh", "TaskName": "t", "Filters": [{"Name": "zone", "Values": []}]},
        "InvalidFilter",
    ),
    (
        "logs-indexes-and-offset",
        "DescribeTaskLogs",
        {"JobId": "job-abcdefgh", "TaskName": "t", "TaskInstanceIndexes": [0], "Offset": 1},
        "InvalidParameter.InvalidParameterCombination",
    ),
    (
        "logs-limit",
        "DescribeTaskLogs",
        {"JobId": "job-abcdefgh", "TaskName": "t", "Limit": 11},
        "InvalidParameterValue",
    ),
    (
        "instance-index",
        "TerminateTaskInstance",
        {"JobId": "job-abcdefgh", "TaskName": "t", "TaskInstanceIndex": -1},
        "InvalidParameterValue",
    ),
    (
        "activities-filter",
        "DescribeComputeEnvActivities",
        {"EnvId": "env-abcdefgh", "Filters": {"Name": "zone", "Values": []}},
        "InvalidFilter",
    ),
    (
        "activities-filter-list",
        "DescribeComputeEnvActivities",
        {"EnvId": "env-abcdefgh", "Filters": []},
        "InvalidParameter",
    ),
    (
        "node-id",
        "TerminateComputeNode",
        {"EnvId": "env-abcdefgh", "ComputeNodeId": "ins-abcdefgh"},
        "InvalidParameter.ComputeNodeIdMalformed",
    ),
    (
        "node-ids-repeated",
        "TerminateComputeNodes",
        {"EnvId": "env-abcdefgh", "ComputeNodeIds": ["node-abcdefgh"] * 2},
        "InvalidParameterValue",
    ),
    (
        "attach-duplicate",
        "AttachInstances",
        {"EnvId": "env-abcdefgh", "Instances": [{"InstanceId": "w"}, {"InstanceId": "w"}]},
        "InvalidParameterValue.InstanceIdDuplicated",
    ),
    (
        "detach-duplicate",
        "DetachInstances",
        {"EnvId": "env-abcdefgh", "InstanceIds": ["w", "w"]},
        "InvalidParameterValue.InstanceIdDuplicated",
    ),
    (
        "modify-env-types",
        "ModifyComputeEnv",
        {"EnvId": "env-abcdefgh", "EnvData": {"InstanceTypes": []}},
        "InvalidParameterValue.InstanceTypesEmpty",
    ),
    (
        "envs-ids-and-filters",
        "DescribeComputeEnvs",
        {"EnvIds": [], "Filters": []},
        "InvalidParameter.InvalidParameterCombination",
    ),
    (
        "create-infos-filter",
        "DescribeComputeEnvCreateInfos",
        {"Filters": [{"Name": "tag-key", "Values": []}]},
        "InvalidFilter",
    ),
    (
        "template-name",
        "CreateTaskTemplate",
        {
            "TaskTemplateName": "n" * 61,
            "TaskTemplateInfo": {"Application": LOCAL, "EnvId": "env-abcdefgh"},
        },
        "InvalidParameter.TaskTemplateNameTooLong",
    ),
    (
        "template-name-empty",
        "CreateTaskTemplate",
        {
            "TaskTemplateName": "",
            "TaskTemplateInfo": {"Application": LOCAL, "EnvId": "env-abcdefgh"},
        },
        "InvalidParameter.TaskTemplateName",
    ),
    (
        "template-description",
        "CreateTaskTemplate",
        {
            "TaskTemplateName": "n",
            "TaskTemplateDescription": "d" * 201,
            "TaskTemplateInfo": {"Application": LOCAL, "EnvId": "env-abcdefgh"},
        },
        "InvalidParameter.TaskTemplateDescriptionTooLong",
    ),
    (
        "template-info-rules",
        "CreateTaskTemplate",
        {"TaskTemplateName": "n", "TaskTemplateInfo": {"Application": LOCAL}},
        "AllowedOneAttributeInEnvIdAndComputeEnv",
    ),
    ("template-limit", "DescribeTaskTemplates", {"Limit": 0}, "InvalidParameterValue"),
    (
        "modify-template-nothing",
        "ModifyTaskTemplate",
        {"TaskTemplateId": "task-tmpl-abcdefgh"},
        "InvalidParameterAtLeastOneAttribute",
    ),
    (
        "template-id",
        "ModifyTaskTemplate",
        {"TaskTemplateId": "tmpl-abcdefgh", "TaskTemplateName": "n"},
        "InvalidParameter.TaskTemplateIdMalformed",
    ),
    (
        "delete-templates-none",
        "DeleteTaskTemplates",
        {"TaskTemplateIds": []},
        "InvalidParameterValue",
    ),
    (
        "input-scheme",
        "SubmitJob",
        task_with(InputMappings=[{"SourcePath": "s3://bucket/key", "DestinationPath": "in"}]),
        SCHEME,
    ),
    (
        "input-destination-scheme",
        "SubmitJob",
        task_with(InputMappings=[{"SourcePath": "/data/in", "DestinationPath": "http://x/in"}]),
        SCHEME,
    ),
    (
        "output-scheme",  # http(s) is for reading only
        "SubmitJob",
        task_with(OutputMappings=[{"SourcePath": "out", "DestinationPath": "https://x/out"}]),
        SCHEME,
    ),
    (
        "redirect-scheme",
        "SubmitJob",
        task_with(RedirectInfo={"StdoutRedirectPath": "cos://bucket-125/logs/"}),
        SCHEME,
    ),
    (
        "package-scheme",
        "SubmitJob",
        task_with(
            Application={"DeliveryForm": "PACKAGE", "PackagePath": "s3://b/p.tgz", "Command": "x"}
        ),
        SCHEME,
    ),
    (
        "env-input-scheme",
        "CreateComputeEnv",
        env_with(InputMappings=[{"SourcePath": "cos://bucket-125/k", "DestinationPath": "/x"}]),
        SCHEME,
    ),
    ("job-id", "DescribeJob", {"JobId": "job-ABCDEFGH"}, "InvalidParameter.JobIdMalformed"),
    ("env-id", "DescribeComputeEnv", {"EnvId": "env-abc"}, "InvalidParameter.EnvIdMalformed"),
]


@pytest.mark.parametrize(
    ("action", "data", "code"), [case[1:] for case in REFUSALS], ids=[case[0] for case in REFUSALS]
)
def test_rule_violation_answers_its_code(action: str, data: dict[str, Any], code: str) -> None:
    actual, message = refusal(action, data)

    assert actual == code, message
    assert "{name}" not in message
    assert "{at}" not in message


def test_code_message_names_the_field_path() -> None:
    _, message = refusal("SubmitJob", task_with(TaskName="t" * 61))

    assert message == "`Job.Tasks.0.TaskName` must be at most 60 characters long"


def test_model_level_message_names_the_fields() -> None:
    _, message = refusal("SubmitJob", task_with(ComputeEnv={}))

    assert message == "`Job.Tasks.0.EnvId` and `Job.Tasks.0.ComputeEnv` cannot be given together"


def test_unknown_parameter_wins_over_other_problems() -> None:
    code, message = refusal("DescribeJobs", {"Limit": "x", "Offset": -1, "Bogus": 1})

    assert code == "UnknownParameter"
    assert message == "The parameter `Bogus` is not recognized"


def test_missing_parameter_wins_over_type_and_value_problems() -> None:
    code, message = refusal("TerminateTaskInstance", {"JobId": 5, "TaskInstanceIndex": -1})

    assert code == "MissingParameter"
    assert message == "The request is missing a required parameter `TaskName`"


def test_json_types_are_strict() -> None:
    assert refusal("DescribeJobs", {"Limit": "5"})[0] == "InvalidParameter"
    assert refusal("DescribeJobs", {"Limit": 5.0})[0] == "InvalidParameter"
    assert refusal("DescribeJobs", {"Limit": True})[0] == "InvalidParameter"
    assert refusal("SubmitJob", task_with(RestartComputeNode=1))[0] == "InvalidParameter"
    assert refusal("DescribeJobs", {"JobIds": "job-abcdefgh"})[0] == "InvalidParameter"
    assert refusal("DescribeJobs", {"Filters": [["zone"]]})[0] == "InvalidParameter"


def test_legacy_notifications_become_the_v3_spelling_in_env_too() -> None:
    data = env_with()
    del data["ComputeEnv"]["Notifications"]
    data["ComputeEnv"]["notifications"] = [
        {"topic_name": "t", "event_configs": [{"event_name": "ComputeNodeRunning"}]}
    ]

    parsed = validation.parse(REQUESTS["CreateComputeEnv"], data)

    dumped = parsed.model_dump(exclude_unset=True)["ComputeEnv"]["Notifications"]
    assert dumped == [{"TopicName": "t", "EventConfigs": [{"EventName": "ComputeNodeRunning"}]}]


def test_legacy_notifications_with_unknown_inner_key_names_it() -> None:
    data = job_with()
    del data["Job"]["Notifications"]
    data["Job"]["notifications"] = [{"topic_name": "t", "event_configs": [], "colour": "red"}]

    code, message = refusal("SubmitJob", data)

    assert code == "UnknownParameter"
    assert "colour" in message


def test_legacy_notifications_spelling_a_key_twice_is_refused() -> None:
    data = job_with()
    del data["Job"]["Notifications"]
    data["Job"]["notifications"] = [{"topic_name": "t", "TopicName": "u", "event_configs": []}]

    assert refusal("SubmitJob", data)[0] == "InvalidParameter.InvalidParameterCombination"


def test_event_vars_may_be_omitted() -> None:
    parsed = validation.parse(REQUESTS["SubmitJob"], job_with(Notifications=[NOTIFY]))

    assert parsed.model_dump(exclude_unset=True)["Job"]["Notifications"] == [NOTIFY]
