"""The Batch API's compute environment actions: environments, their nodes, attached instances."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from batchd.api.tc3 import handlers_common as common
from batchd.api.tc3 import models_env as env_models
from batchd.api.tc3 import views
from batchd.api.tc3.dispatch import Handler
from batchd.control.env_service import EnvService
from batchd.domain.events import iso
from batchd.domain.scope import Scope
from batchd.domain.submission import EnvSubmission


def build(service: EnvService) -> dict[str, tuple[type[BaseModel], Handler]]:
    """The compute environment actions: their request models and handlers."""

    async def create_compute_env(
        scope: Scope, request: env_models.CreateComputeEnvRequest
    ) -> dict[str, Any]:
        env = request.ComputeEnv
        submitted = common.dump(env)
        cpu, mem = common.node_size(submitted.get("EnvData"))
        submission = EnvSubmission(
            name=env.EnvName,
            description=env.EnvDescription or "",
            env_type=env.EnvType or "MANAGED",
            zone=common.zone(scope, request.Placement.Zone),
            desired=env.DesiredComputeNodeCount,
            cpu=cpu,
            mem_gib=mem,
            resource_max_retry=7
            if env.ResourceMaxRetryCount is None
            else env.ResourceMaxRetryCount,
            notifications=common.notifications(env.Notifications, on_job=False),
            tags=[common.dump(t) for t in env.Tags or []],
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
            common.filters(request.Filters),
            *common.page(request),
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
            "EnvData": common.mask(info.get("EnvData", {})),
            "MountDataDisks": info.get("MountDataDisks", []),
            "InputMappings": info.get("InputMappings", []),
            "Authentications": common.mask(info.get("Authentications", [])),
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
            common.filters(request.Filters),
            *common.page(request),
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
        node_ids = request.Filters.Values if request.Filters else None  # compute-node-id
        total, rows = await service.activities(
            scope,
            request.EnvId,
            node_ids,
            *common.page(request),
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

    return {
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
    }
