"""Job, task and task-template request models: Job, Task, Application and the job actions (§2, §3).

Types in annotations are written module-qualified (`job.Application`, `common.Tags`): many fields
are named like their type, and a bare name would resolve to the field's own default.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import model_validator

from batchd.api.tc3 import models_common as common
from batchd.api.tc3 import models_env as env
from batchd.api.tc3 import models_job as job
from batchd.api.tc3 import rules
from batchd.api.tc3.rules import Wire, between, items_max, items_min, refuse, text_max

COMBINATION = "InvalidParameter.InvalidParameterCombination"

TaskName = Annotated[
    str,
    text_max(60, "InvalidParameter.TaskNameTooLong"),
    rules.text_pattern(
        r"[A-Za-z0-9_.-]+", "InvalidParameter.TaskName", "letters, digits, '_', '.' or '-'"
    ),
]


class Docker(Wire):
    Image: str
    User: str | None = None
    Password: str | None = None
    Server: str | None = None
    MaxRetryCount: rules.UInt | None = None
    DelayOnRetry: rules.UInt | None = None
    DockerRunOption: str | None = None


class CommandLine(Wire):
    Command: str


class Application(Wire):
    """What a task instance runs: exactly one of Command / Commands."""

    DeliveryForm: Literal["LOCAL", "PACKAGE"]
    Command: str | None = None
    PackagePath: Annotated[str, common.storage_uri("package")] | None = None
    Docker: job.Docker | None = None
    Commands: Annotated[list[job.CommandLine], items_min(1)] | None = None

    @model_validator(mode="after")
    def _command(self) -> Application:
        rules.one_of(self, ("Command", "Commands"), COMBINATION, missing_code="MissingParameter")
        if self.DeliveryForm == "PACKAGE" and self.PackagePath is None:
            raise refuse("MissingParameter", "`{at}PackagePath` is required with PACKAGE")
        return self


class RedirectInfo(Wire):
    StdoutRedirectPath: Annotated[str, common.storage_uri("output")] | None = None
    StderrRedirectPath: Annotated[str, common.storage_uri("output")] | None = None
    StdoutRedirectFileName: str | None = None
    StderrRedirectFileName: str | None = None


class RedirectLocalInfo(Wire):
    StdoutLocalPath: Annotated[str, common.storage_uri("local")] | None = None
    StderrLocalPath: Annotated[str, common.storage_uri("local")] | None = None
    StdoutLocalFileName: str | None = None
    StderrLocalFileName: str | None = None


class OutputMappingOption(Wire):
    Workspace: Literal["BATCH_WORKSPACE", "GLOBAL_WORKSPACE"] | None = None


class OutputMapping(Wire):
    SourcePath: Annotated[str, common.storage_uri("local")]
    DestinationPath: Annotated[str, common.storage_uri("output")]
    OutputMappingOption: job.OutputMappingOption | None = None


class OutputMappingConfig(Wire):
    """CLOUD (COS upload tuning)."""

    Scene: str
    WorkerNum: int
    WorkerPartSize: int


class EnvVar(Wire):
    Name: str
    Value: str


class Dependence(Wire):
    StartTask: str
    EndTask: str


class Task(Wire):
    """One task of a job (also a task template's body): exactly one of EnvId / ComputeEnv."""

    Application: job.Application
    TaskName: job.TaskName | None = None
    TaskInstanceNum: (
        Annotated[rules.UInt, between(1, 10000, "InvalidParameterValue.TaskInstanceNum")] | None
    ) = None
    ComputeEnv: env.AnonymousComputeEnv | None = None
    EnvId: rules.EnvId | None = None
    RedirectInfo: job.RedirectInfo | None = None
    RedirectLocalInfo: job.RedirectLocalInfo | None = None
    InputMappings: list[common.InputMapping] | None = None
    OutputMappings: list[job.OutputMapping] | None = None
    OutputMappingConfigs: list[job.OutputMappingConfig] | None = None
    EnvVars: list[job.EnvVar] | None = None
    Authentications: list[common.Authentication] | None = None
    FailedAction: Literal["TERMINATE", "INTERRUPT", "FAST_INTERRUPT"] | None = None
    MaxRetryCount: (
        Annotated[rules.UInt, between(None, 10, "InvalidParameterValue.MaxRetryCount")] | None
    ) = None
    Timeout: rules.UInt | None = None
    MaxConcurrentNum: rules.UInt | None = None
    RestartComputeNode: bool | None = None
    ResourceMaxRetryCount: Annotated[rules.UInt, between(None, 100)] | None = None

    @model_validator(mode="after")
    def _one_env(self) -> Task:
        rules.one_of(self, ("EnvId", "ComputeEnv"), "AllowedOneAttributeInEnvIdAndComputeEnv")
        return self


class Job(Wire):
    """A job as submitted. Cross-task rules (unique TaskName, Dependences naming tasks, no
    cycles) and event names are checked by the core, which knows the defaults and catalogue."""

    Tasks: Annotated[list[job.Task], items_min(1)]
    JobName: Annotated[str, text_max(60, "InvalidParameter.JobNameTooLong")] | None = None
    JobDescription: (
        Annotated[str, text_max(200, "InvalidParameter.JobDescriptionTooLong")] | None
    ) = None
    Priority: Annotated[rules.UInt, between(0, 100)] | None = None
    Dependences: list[job.Dependence] | None = None
    Notifications: list[common.Notification] | None = None
    TaskExecutionDependOn: (
        Literal["PRE_TASK_SUCCEED", "PRE_TASK_AT_LEAST_PARTLY_SUCCEED", "PRE_TASK_FINISHED"] | None
    ) = None
    StateIfCreateCvmFailed: Literal["FAILED", "RUNNABLE"] | None = None
    Tags: common.Tags | None = None
    NotificationTarget: common.NotificationTarget | None = None

    _legacy = model_validator(mode="before")(common.legacy_notifications)


# --- job and task actions --------------------------------------------------------------------

JOB_FILTERS = ("job-id", "job-name", "job-state", "zone", "tag-key", "tag-value")


class SubmitJobRequest(Wire):
    Placement: common.Placement
    Job: job.Job
    ClientToken: rules.ClientToken | None = None


class DescribeJobRequest(Wire):
    JobId: rules.JobId


class DescribeJobsRequest(Wire):
    JobIds: list[rules.JobId] | None = None
    Filters: Annotated[list[common.Filter], common.filter_names(JOB_FILTERS, tags=True)] | None = (
        None
    )
    Offset: rules.Offset | None = None
    Limit: Annotated[int, between(0, 100)] | None = None

    @model_validator(mode="after")
    def _ids_or_filters(self) -> DescribeJobsRequest:
        rules.exclusive(self, ("JobIds", "Filters"), COMBINATION)
        return self


class DescribeJobSubmitInfoRequest(Wire):
    JobId: rules.JobId


class TerminateJobRequest(Wire):
    JobId: rules.JobId


class DeleteJobRequest(Wire):
    JobId: rules.JobId


class RetryJobsRequest(Wire):
    JobIds: Annotated[list[rules.JobId], items_min(1), items_max(100)]


class DescribeTaskRequest(Wire):
    JobId: rules.JobId
    TaskName: str
    Offset: rules.UInt | None = None
    Limit: Annotated[rules.UInt, between(0, 1000)] | None = None
    Filters: (
        Annotated[list[common.Filter], common.filter_names(("task-instance-state",))] | None
    ) = None


class DescribeTaskInstanceAttemptsRequest(Wire):
    """batchd extension (see `actions`): DescribeTask's instances, with their attempt."""

    JobId: rules.JobId
    TaskName: str
    Offset: rules.UInt | None = None
    Limit: Annotated[rules.UInt, between(0, 1000)] | None = None


class DescribeTaskLogsRequest(Wire):
    JobId: rules.JobId
    TaskName: str
    TaskInstanceIndexes: list[rules.UInt] | None = None
    Offset: rules.UInt | None = None
    Limit: Annotated[rules.UInt, between(0, 10)] | None = None

    @model_validator(mode="after")
    def _indexes_or_page(self) -> DescribeTaskLogsRequest:
        if self.TaskInstanceIndexes is not None:
            for name in ("Offset", "Limit"):
                rules.exclusive(self, ("TaskInstanceIndexes", name), COMBINATION)
        return self


class TerminateTaskInstanceRequest(Wire):
    JobId: rules.JobId
    TaskName: str
    TaskInstanceIndex: rules.Offset


# --- task templates --------------------------------------------------------------------------

TemplateName = Annotated[
    str,
    rules.text_min(1, "InvalidParameter.TaskTemplateName"),
    text_max(60, "InvalidParameter.TaskTemplateNameTooLong"),
]
TemplateDescription = Annotated[
    str, text_max(200, "InvalidParameter.TaskTemplateDescriptionTooLong")
]
TemplateIds = Annotated[list[rules.TaskTemplateId], items_max(100)]


class CreateTaskTemplateRequest(Wire):
    TaskTemplateName: job.TemplateName
    TaskTemplateInfo: job.Task
    TaskTemplateDescription: job.TemplateDescription | None = None
    Tags: common.Tags | None = None


class DescribeTaskTemplatesRequest(Wire):
    TaskTemplateIds: job.TemplateIds | None = None
    Filters: (
        Annotated[
            list[common.Filter],
            common.filter_names(("task-template-name", "tag-key", "tag-value"), tags=True),
        ]
        | None
    ) = None
    Offset: rules.Offset | None = None
    Limit: Annotated[int, between(1, 100)] | None = None

    @model_validator(mode="after")
    def _ids_or_filters(self) -> DescribeTaskTemplatesRequest:
        rules.exclusive(self, ("TaskTemplateIds", "Filters"), COMBINATION)
        return self


class ModifyTaskTemplateRequest(Wire):
    TaskTemplateId: rules.TaskTemplateId
    TaskTemplateName: job.TemplateName | None = None
    TaskTemplateDescription: job.TemplateDescription | None = None
    TaskTemplateInfo: job.Task | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> ModifyTaskTemplateRequest:
        names = ("TaskTemplateName", "TaskTemplateDescription", "TaskTemplateInfo")
        if all(getattr(self, name) is None for name in names):
            raise refuse(
                "InvalidParameterAtLeastOneAttribute",
                "give at least one of TaskTemplateName, TaskTemplateDescription, TaskTemplateInfo",
            )
        return self


class DeleteTaskTemplatesRequest(Wire):
    TaskTemplateIds: Annotated[job.TemplateIds, items_min(1)]
