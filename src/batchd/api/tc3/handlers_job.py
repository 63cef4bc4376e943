"""The Batch API's job actions: submit, describe, read logs, terminate, delete, retry."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from batchd.api.tc3 import handlers_common as common
from batchd.api.tc3 import models_job as job_models
from batchd.api.tc3 import views
from batchd.api.tc3.dispatch import Handler
from batchd.control.job_service import JobService
from batchd.domain import errors
from batchd.domain.events import iso
from batchd.domain.scope import Scope
from batchd.domain.states import DependOn, FailedAction, InstanceState
from batchd.domain.submission import JobSubmission, TaskSubmission

DEFAULT_TIMEOUT_S = 86_400


def _task_submission(position: int, task: Any) -> TaskSubmission:
    spec = common.dump(task)
    spec.setdefault("TaskName", f"Task{position + 1}")
    anonymous = None
    if task.ComputeEnv is not None:
        anonymous = common.dump(task.ComputeEnv)
        anonymous["_size"] = common.node_size(anonymous.get("EnvData"))
    return TaskSubmission(
        name=spec["TaskName"],
        instance_num=task.TaskInstanceNum or 1,
        env_id=task.EnvId or "",
        anonymous_env=anonymous,
        max_retry=task.MaxRetryCount or 0,
        timeout_s=task.Timeout or DEFAULT_TIMEOUT_S,
        failed_action=FailedAction(task.FailedAction or "TERMINATE"),
        max_concurrent=task.MaxConcurrentNum or 0,
        spec=spec,
    )


def build(service: JobService) -> dict[str, tuple[type[BaseModel], Handler]]:
    """The job actions: their request models and handlers."""

    async def submit_job(scope: Scope, request: job_models.SubmitJobRequest) -> dict[str, Any]:
        job = request.Job
        submission = JobSubmission(
            name=job.JobName or "",
            description=job.JobDescription or "",
            priority=job.Priority or 0,
            zone=common.zone(scope, request.Placement.Zone),
            depend_on=DependOn(job.TaskExecutionDependOn or "PRE_TASK_SUCCEED"),
            state_if_create_failed=job.StateIfCreateCvmFailed or "FAILED",
            tasks=tuple(_task_submission(n, task) for n, task in enumerate(job.Tasks)),
            dependences=tuple((d.StartTask, d.EndTask) for d in job.Dependences or []),
            notifications=common.notifications(job.Notifications, on_job=True),
            tags=[common.dump(t) for t in job.Tags or []],
            submitted=common.dump(job),
            client_token=request.ClientToken or "",
        )
        return {"JobId": await service.submit_job(scope, submission)}

    async def describe_job(scope: Scope, request: job_models.DescribeJobRequest) -> dict[str, Any]:
        detail = await service.job(scope, request.JobId)
        job, row = detail.job, detail.row
        all_instances = [
            state
            for counts in detail.task_instance_states.values()
            for state in views.expand(counts)
        ]
        return {
            "JobId": job.job_id,
            "JobName": job.name,
            "Zone": job.zone,
            "Priority": job.priority,
            "JobState": job.state.value,
            "CreateTime": iso(job.created_ms),
            "EndTime": iso(job.end_ms),
            "TaskSet": [views.task_view(task) for task in detail.tasks],
            "DependenceSet": [{"StartTask": a, "EndTask": b} for a, b in job.dependences],
            "TaskMetrics": views.metrics(task.state for task in detail.tasks),
            "TaskInstanceMetrics": views.metrics(all_instances),
            "StateReason": job.reason,
            "Tags": json.loads(row.tags),
            "NextAction": job.next_action,
        }

    async def describe_jobs(
        scope: Scope, request: job_models.DescribeJobsRequest
    ) -> dict[str, Any]:
        total, rows, task_states = await service.jobs(
            scope,
            request.JobIds,
            common.filters(request.Filters),
            *common.page(request),
        )
        return {
            "JobSet": [
                {
                    "JobId": row.job_id,
                    "JobName": row.name,
                    "JobState": row.state,
                    "Priority": row.priority,
                    "Placement": {"Zone": row.zone},
                    "CreateTime": iso(row.created_ms),
                    "EndTime": iso(row.end_ms),
                    "TaskMetrics": views.metrics(task_states[row.job_id]),
                    "Tags": json.loads(row.tags),
                }
                for row in rows
            ],
            "TotalCount": total,
        }

    async def describe_job_submit_info(
        scope: Scope, request: job_models.DescribeJobSubmitInfoRequest
    ) -> dict[str, Any]:
        detail = await service.job(scope, request.JobId)
        submitted = json.loads(detail.row.submit_info)
        return {
            "JobId": detail.job.job_id,
            "JobName": submitted.get("JobName", ""),
            "JobDescription": submitted.get("JobDescription", ""),
            "Priority": submitted.get("Priority", 0),
            "Tasks": common.mask(submitted.get("Tasks", [])),
            "Dependences": submitted.get("Dependences", []),
            # the checked form (events.md §2.2): v3 spelling, canonical names, EventVars present
            "Notifications": json.loads(detail.row.notifications),
            "Tags": submitted.get("Tags", []),
        }

    async def terminate_job(
        scope: Scope, request: job_models.TerminateJobRequest
    ) -> dict[str, Any]:
        await service.terminate_job(scope, request.JobId)
        return {}

    async def delete_job(scope: Scope, request: job_models.DeleteJobRequest) -> dict[str, Any]:
        await service.delete_job(scope, request.JobId)
        return {}

    async def retry_jobs(scope: Scope, request: job_models.RetryJobsRequest) -> dict[str, Any]:
        await service.retry_jobs(scope, request.JobIds)
        return {}

    async def describe_task(
        scope: Scope, request: job_models.DescribeTaskRequest
    ) -> dict[str, Any]:
        states = None
        for f in request.Filters or []:
            try:
                states = [InstanceState(v) for v in f.Values]
            except ValueError:
                raise errors.InvalidParameterValue(
                    f"unknown task-instance-state in {f.Values}",
                    parameter="Filters",
                    code="InvalidParameterValue.InvalidFilter",
                ) from None
        job, task, found, counts, node_ids = await service.task(
            scope,
            request.JobId,
            request.TaskName,
            states,
            *common.page(request, 100),
        )
        detail = await service.job(scope, request.JobId)
        spec = _task_spec(detail.row, task.name)
        return {
            "JobId": job.job_id,
            "TaskName": task.name,
            "TaskState": task.state.value,
            "CreateTime": iso(task.created_ms),
            "EndTime": iso(task.end_ms),
            "TaskInstanceTotalCount": task.instance_num,
            "TaskInstanceSet": [
                views.instance_view(job.job_id, task, spec, i, node_ids) for i in found
            ],
            "TaskInstanceMetrics": views.metrics(views.expand(counts)),
        }

    async def describe_task_instance_attempts(
        scope: Scope, request: job_models.DescribeTaskInstanceAttemptsRequest
    ) -> dict[str, Any]:
        """batchd extension: DescribeTask's page of instances, with the attempt of each."""
        _, task, found, _, _ = await service.task(
            scope, request.JobId, request.TaskName, None, *common.page(request, 100)
        )
        return {
            "TotalCount": task.instance_num,
            "TaskInstanceAttemptSet": [
                {"TaskInstanceIndex": i.index, "Attempt": i.attempt} for i in found
            ],
        }

    async def describe_task_logs(
        scope: Scope, request: job_models.DescribeTaskLogsRequest
    ) -> dict[str, Any]:
        total, found, task, job = await service.logs(
            scope,
            request.JobId,
            request.TaskName,
            request.TaskInstanceIndexes,
            *common.page(request, 5),
        )
        detail = await service.job(scope, request.JobId)
        spec = _task_spec(detail.row, task.name)
        result = []
        for instance, stdout, stderr in found:
            redirect = views.redirect_info(job.job_id, task, spec, instance.index)
            result.append(
                {
                    "TaskInstanceIndex": instance.index,
                    "StdoutLog": views.log_text(stdout),
                    "StderrLog": views.log_text(stderr),
                    **redirect,
                }
            )
        return {"TotalCount": total, "TaskInstanceLogSet": result}

    async def terminate_task_instance(
        scope: Scope, request: job_models.TerminateTaskInstanceRequest
    ) -> dict[str, Any]:
        await service.terminate_instance(
            scope, request.JobId, request.TaskName, request.TaskInstanceIndex
        )
        return {}

    return {
        "SubmitJob": (job_models.SubmitJobRequest, submit_job),
        "DescribeJob": (job_models.DescribeJobRequest, describe_job),
        "DescribeJobs": (job_models.DescribeJobsRequest, describe_jobs),
        "DescribeJobSubmitInfo": (
            job_models.DescribeJobSubmitInfoRequest,
            describe_job_submit_info,
        ),
        "TerminateJob": (job_models.TerminateJobRequest, terminate_job),
        "DeleteJob": (job_models.DeleteJobRequest, delete_job),
        "RetryJobs": (job_models.RetryJobsRequest, retry_jobs),
        "DescribeTask": (job_models.DescribeTaskRequest, describe_task),
        "DescribeTaskLogs": (job_models.DescribeTaskLogsRequest, describe_task_logs),
        "TerminateTaskInstance": (job_models.TerminateTaskInstanceRequest, terminate_task_instance),
        "DescribeTaskInstanceAttempts": (
            job_models.DescribeTaskInstanceAttemptsRequest,
            describe_task_instance_attempts,
        ),
    }


def _task_spec(row: Any, task_name: str) -> dict[str, Any]:
    submitted = json.loads(row.submit_info)
    for position, task in enumerate(submitted.get("Tasks", [])):
        if task.get("TaskName", f"Task{position + 1}") == task_name:
            spec: dict[str, Any] = task
            return spec
    return {}
