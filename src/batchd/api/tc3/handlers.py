"""The Batch API actions: request models in, the core's operations, answers out."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from batchd.api.tc3 import models_env as env_models
from batchd.api.tc3 import models_events as event_models
from batchd.api.tc3 import models_job as job_models
from batchd.api.tc3 import views
from batchd.control.service import BatchService
from batchd.control.templates import TemplateService
from batchd.domain import errors
from batchd.domain import notifications as notification_rules
from batchd.domain.events import iso
from batchd.domain.node import size_of_instance_type
from batchd.domain.scope import Scope
from batchd.domain.states import DependOn, FailedAction, InstanceState
from batchd.domain.submission import EnvSubmission, JobSubmission, TaskSubmission
from batchd.store.repos.events import HistoryEntry

Handler = Callable[[Scope, Any], Awaitable[dict[str, Any]]]
DEFAULT_TIMEOUT_S = 86_400
DEFAULT_NODE_SIZE = (1, 1)
SECRET_MASK = "******"


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_none=True)


def _filters(filters: list[Any] | None) -> list[tuple[str, list[str]]]:
    """Filters are AND-ed, each filter's values OR-ed, so two filters of one name both apply."""
    return [(f.Name, list(f.Values)) for f in filters or []]


def node_size(env_data: dict[str, Any] | None) -> tuple[int, int]:
    """(cores, GiB) of a node from EnvData: InstanceTypeOptions, or the first instance type."""
    data = env_data or {}
    options = data.get("InstanceTypeOptions")
    if options:
        return int(options["CPU"]), int(options["Memory"])
    types = data.get("InstanceTypes") or (
        [data["InstanceType"]] if data.get("InstanceType") else []
    )
    for name in types:
        size = size_of_instance_type(name)
        if size is not None:
            return size
    if types:
        raise errors.InvalidParameterValue(
            f"cannot read a node size from instance type {types[0]!r}: use the cloud's naming "
            "(e.g. S5.MEDIUM4) or InstanceTypeOptions",
            parameter="InstanceType",
            code="InvalidParameterValue.InstanceType",
        )
    return DEFAULT_NODE_SIZE


def _mask(value: Any) -> Any:
    """Echoes never show secrets."""
    if isinstance(value, dict):
        return {
            k: SECRET_MASK if k in ("SecretKey", "Password") and v else _mask(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def _task_submission(position: int, task: Any) -> TaskSubmission:
    spec = _dump(task)
    spec.setdefault("TaskName", f"Task{position + 1}")
    anonymous = None
    if task.ComputeEnv is not None:
        anonymous = _dump(task.ComputeEnv)
        anonymous["_size"] = node_size(anonymous.get("EnvData"))
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


def _page(request: Any, default_limit: int = 20) -> tuple[int, int]:
    """(offset, limit) of a Describe* request; an explicit Limit of 0 stays 0."""
    limit = default_limit if request.Limit is None else request.Limit
    return request.Offset or 0, limit


def _zone(scope: Scope, zone: str) -> str:
    """A zone is a free label, but it must belong to the request's region."""
    if not zone.startswith(f"{scope.region}-"):
        raise errors.InvalidParameterValue(
            f"zone {zone!r} is not in region {scope.region}: use a zone named {scope.region}-N",
            parameter="Placement.Zone",
            code="InvalidZone.MismatchRegion",
        )
    return zone


def _notifications(items: list[Any] | None, *, on_job: bool) -> list[dict[str, Any]]:
    """Checked (events.md §2.3), with canonical event names: the stored and echoed form."""
    return notification_rules.check([_dump(n) for n in items or []], on_job=on_job)


def build(
    service: BatchService, templates: TemplateService
) -> dict[str, tuple[type[BaseModel], Handler]]:
    """Every served action: its request model and its handler."""

    async def submit_job(scope: Scope, request: job_models.SubmitJobRequest) -> dict[str, Any]:
        job = request.Job
        submission = JobSubmission(
            name=job.JobName or "",
            description=job.JobDescription or "",
            priority=job.Priority or 0,
            zone=_zone(scope, request.Placement.Zone),
            depend_on=DependOn(job.TaskExecutionDependOn or "PRE_TASK_SUCCEED"),
            state_if_create_failed=job.StateIfCreateCvmFailed or "FAILED",
            tasks=tuple(_task_submission(n, task) for n, task in enumerate(job.Tasks)),
            dependences=tuple((d.StartTask, d.EndTask) for d in job.Dependences or []),
            notifications=_notifications(job.Notifications, on_job=True),
            tags=[_dump(t) for t in job.Tags or []],
            submitted=_dump(job),
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
            _filters(request.Filters),
            *_page(request),
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
            "Tasks": _mask(submitted.get("Tasks", [])),
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
            *_page(request, 100),
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

    async def describe_task_logs(
        scope: Scope, request: job_models.DescribeTaskLogsRequest
    ) -> dict[str, Any]:
        total, found, task, job = await service.logs(
            scope,
            request.JobId,
            request.TaskName,
            request.TaskInstanceIndexes,
            *_page(request, 5),
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

    # --- environments ------------------------------------------------------------------------

    async def create_compute_env(
        scope: Scope, request: env_models.CreateComputeEnvRequest
    ) -> dict[str, Any]:
        env = request.ComputeEnv
        submitted = _dump(env)
        cpu, mem = node_size(submitted.get("EnvData"))
        submission = EnvSubmission(
            name=env.EnvName,
            description=env.EnvDescription or "",
            env_type=env.EnvType or "MANAGED",
            zone=_zone(scope, request.Placement.Zone),
            desired=env.DesiredComputeNodeCount,
            cpu=cpu,
            mem_gib=mem,
            resource_max_retry=7
            if env.ResourceMaxRetryCount is None
            else env.ResourceMaxRetryCount,
            notifications=_notifications(env.Notifications, on_job=False),
            tags=[_dump(t) for t in env.Tags or []],
            submitted=submitted,
            client_token=request.ClientToken or "",
        )
        return {"EnvId": await service.create_env(scope, submission)}

    async def describe_compute_env(
        scope: Scope, request: env_models.DescribeComputeEnvRequest
    ) -> dict[str, Any]:
        detail = await service.env(scope, request.EnvId)
        view = views.env_view(detail.env, detail.nodes, json.loads(detail.row.tags))
        view["ComputeNodeSet"] = [
            views.node_view(node, node.node_id in detail.busy_nodes) for node in detail.nodes
        ]
        # [batchd] where external workers connect to be attached (AttachInstances).
        view["SchedulerAddress"] = await service.scheduler_address(detail.env)
        return view

    async def describe_compute_envs(
        scope: Scope, request: env_models.DescribeComputeEnvsRequest
    ) -> dict[str, Any]:
        total, details = await service.envs(
            scope,
            request.EnvIds,
            _filters(request.Filters),
            *_page(request),
        )
        return {
            "ComputeEnvSet": [
                views.env_view(d.env, d.nodes, json.loads(d.row.tags)) for d in details
            ],
            "TotalCount": total,
        }

    def _create_info(env_id: str, row: Any) -> dict[str, Any]:
        info = json.loads(row.create_info)
        return {
            "EnvId": env_id,
            "EnvName": info.get("EnvName", ""),
            "EnvDescription": info.get("EnvDescription", ""),
            "EnvType": info.get("EnvType", "MANAGED"),
            "EnvData": _mask(info.get("EnvData", {})),
            "MountDataDisks": info.get("MountDataDisks", []),
            "InputMappings": info.get("InputMappings", []),
            "Authentications": _mask(info.get("Authentications", [])),
            "Notifications": json.loads(row.notifications),
            "DesiredComputeNodeCount": row.desired,
            "Tags": json.loads(row.tags),
        }

    async def describe_compute_env_create_info(
        scope: Scope, request: env_models.DescribeComputeEnvCreateInfoRequest
    ) -> dict[str, Any]:
        detail = await service.env(scope, request.EnvId)
        return _create_info(detail.env.env_id, detail.row)

    async def describe_compute_env_create_infos(
        scope: Scope, request: env_models.DescribeComputeEnvCreateInfosRequest
    ) -> dict[str, Any]:
        total, details = await service.envs(
            scope,
            request.EnvIds,
            _filters(request.Filters),
            *_page(request),
        )
        return {
            "TotalCount": total,
            "ComputeEnvCreateInfoSet": [_create_info(d.env.env_id, d.row) for d in details],
        }

    async def modify_compute_env(
        scope: Scope, request: env_models.ModifyComputeEnvRequest
    ) -> dict[str, Any]:
        await service.modify_env(
            scope,
            request.EnvId,
            request.DesiredComputeNodeCount,
            request.EnvName,
            request.EnvDescription,
        )
        return {}

    async def delete_compute_env(
        scope: Scope, request: env_models.DeleteComputeEnvRequest
    ) -> dict[str, Any]:
        await service.delete_env(scope, request.EnvId)
        return {}

    async def describe_compute_env_activities(
        scope: Scope, request: env_models.DescribeComputeEnvActivitiesRequest
    ) -> dict[str, Any]:
        node_id = request.Filters.Values[0] if request.Filters and request.Filters.Values else None
        total, rows = await service.activities(
            scope,
            request.EnvId,
            node_id,
            *_page(request),
        )
        return {
            "ActivitySet": [
                {
                    "ActivityId": row.activity_id,
                    "ComputeNodeId": row.node_id,
                    "ComputeNodeActivityType": row.kind,
                    "EnvId": request.EnvId,
                    "Cause": row.cause,
                    "ActivityState": row.state,
                    "StateReason": row.reason,
                    "StartTime": iso(row.start_ms),
                    "EndTime": iso(row.end_ms),
                    "InstanceId": row.instance_id,
                }
                for row in rows
            ],
            "TotalCount": total,
        }

    async def terminate_compute_node(
        scope: Scope, request: env_models.TerminateComputeNodeRequest
    ) -> dict[str, Any]:
        await service.terminate_nodes(scope, request.EnvId, [request.ComputeNodeId])
        return {}

    async def terminate_compute_nodes(
        scope: Scope, request: env_models.TerminateComputeNodesRequest
    ) -> dict[str, Any]:
        await service.terminate_nodes(scope, request.EnvId, request.ComputeNodeIds)
        return {}

    async def attach_instances(
        scope: Scope, request: env_models.AttachInstancesRequest
    ) -> dict[str, Any]:
        ids = [instance.InstanceId for instance in request.Instances]
        await service.attach_instances(scope, request.EnvId, ids)
        return {}

    async def detach_instances(
        scope: Scope, request: env_models.DetachInstancesRequest
    ) -> dict[str, Any]:
        await service.detach_instances(scope, request.EnvId, request.InstanceIds)
        return {}

    # --- task templates ----------------------------------------------------------------------

    async def create_task_template(
        scope: Scope, request: job_models.CreateTaskTemplateRequest
    ) -> dict[str, Any]:
        template_id = await templates.create(
            scope,
            request.TaskTemplateName,
            request.TaskTemplateDescription or "",
            _dump(request.TaskTemplateInfo),
            [_dump(t) for t in request.Tags or []],
        )
        return {"TaskTemplateId": template_id}

    async def describe_task_templates(
        scope: Scope, request: job_models.DescribeTaskTemplatesRequest
    ) -> dict[str, Any]:
        total, rows = await templates.search(
            scope,
            request.TaskTemplateIds,
            _filters(request.Filters),
            *_page(request),
        )
        return {
            "TaskTemplateSet": [
                {
                    "TaskTemplateId": row.template_id,
                    "TaskTemplateName": row.name,
                    "TaskTemplateDescription": row.description,
                    "TaskTemplateInfo": _mask(json.loads(row.info)),
                    "CreateTime": iso(row.created_ms),
                    "Tags": json.loads(row.tags),
                }
                for row in rows
            ],
            "TotalCount": total,
        }

    async def modify_task_template(
        scope: Scope, request: job_models.ModifyTaskTemplateRequest
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if request.TaskTemplateName is not None:
            values["name"] = request.TaskTemplateName
        if request.TaskTemplateDescription is not None:
            values["description"] = request.TaskTemplateDescription
        if request.TaskTemplateInfo is not None:
            values["info"] = json.dumps(_dump(request.TaskTemplateInfo))
        await templates.modify(scope, request.TaskTemplateId, values)
        return {}

    async def delete_task_templates(
        scope: Scope, request: job_models.DeleteTaskTemplatesRequest
    ) -> dict[str, Any]:
        await templates.delete(scope, request.TaskTemplateIds)
        return {}

    # --- event history (batchd extensions, see `actions`) ------------------------------------

    async def describe_events(
        scope: Scope, request: event_models.DescribeEventsRequest
    ) -> dict[str, Any]:
        offset, limit = _page(request)
        total, entries = await service.events_of(scope, request.OwnerId, offset=offset, limit=limit)
        return {"TotalCount": total, "EventSet": [_history_view(entry) for entry in entries]}

    async def replay_events(
        scope: Scope, request: event_models.ReplayEventsRequest
    ) -> dict[str, Any]:
        count = await service.replay_events(
            scope, request.OwnerId, request.TopicName, request.EventIds or ()
        )
        return {"ReplayedCount": count}

    handlers: dict[str, tuple[type[BaseModel], Handler]] = {
        "CreateTaskTemplate": (job_models.CreateTaskTemplateRequest, create_task_template),
        "DescribeTaskTemplates": (job_models.DescribeTaskTemplatesRequest, describe_task_templates),
        "ModifyTaskTemplate": (job_models.ModifyTaskTemplateRequest, modify_task_template),
        "DeleteTaskTemplates": (job_models.DeleteTaskTemplatesRequest, delete_task_templates),
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
        "CreateComputeEnv": (env_models.CreateComputeEnvRequest, create_compute_env),
        "DescribeComputeEnv": (env_models.DescribeComputeEnvRequest, describe_compute_env),
        "DescribeComputeEnvs": (env_models.DescribeComputeEnvsRequest, describe_compute_envs),
        "DescribeComputeEnvCreateInfo": (
            env_models.DescribeComputeEnvCreateInfoRequest,
            describe_compute_env_create_info,
        ),
        "DescribeComputeEnvCreateInfos": (
            env_models.DescribeComputeEnvCreateInfosRequest,
            describe_compute_env_create_infos,
        ),
        "ModifyComputeEnv": (env_models.ModifyComputeEnvRequest, modify_compute_env),
        "DeleteComputeEnv": (env_models.DeleteComputeEnvRequest, delete_compute_env),
        "DescribeComputeEnvActivities": (
            env_models.DescribeComputeEnvActivitiesRequest,
            describe_compute_env_activities,
        ),
        "TerminateComputeNode": (env_models.TerminateComputeNodeRequest, terminate_compute_node),
        "TerminateComputeNodes": (env_models.TerminateComputeNodesRequest, terminate_compute_nodes),
        "AttachInstances": (env_models.AttachInstancesRequest, attach_instances),
        "DetachInstances": (env_models.DetachInstancesRequest, detach_instances),
        "DescribeEvents": (event_models.DescribeEventsRequest, describe_events),
        "ReplayEvents": (event_models.ReplayEventsRequest, replay_events),
    }
    return handlers


def _history_view(entry: HistoryEntry) -> dict[str, Any]:
    """An EventSet item of DescribeEvents: the stored event, and the envelope event of
    events.md §3.1 a consumer would get (without the `EventVars` of any one topic)."""
    event = entry.event
    (envelope_event,) = notification_rules.envelope(event, [])["Events"]
    return {
        "EventId": event.event_id,
        "EventName": event.name,
        "ResourceId": entry.resource_id,
        "Sequence": event.sequence,
        "EventTime": iso(event.created_ms),
        "Undeliverable": entry.undeliverable,
        "Event": envelope_event,
    }


def _task_spec(row: Any, task_name: str) -> dict[str, Any]:
    submitted = json.loads(row.submit_info)
    for position, task in enumerate(submitted.get("Tasks", [])):
        if task.get("TaskName", f"Task{position + 1}") == task_name:
            spec: dict[str, Any] = task
            return spec
    return {}
