"""The Batch API's task template actions: create, describe, modify, delete."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from batchd.api.tc3 import handlers_common as common
from batchd.api.tc3 import models_job as job_models
from batchd.api.tc3.dispatch import Handler
from batchd.control.templates import TemplateService
from batchd.domain.events import iso
from batchd.domain.scope import Scope


def build(templates: TemplateService) -> dict[str, tuple[type[BaseModel], Handler]]:
    """The task template actions: their request models and handlers."""

    async def create_task_template(
        scope: Scope, request: job_models.CreateTaskTemplateRequest
    ) -> dict[str, Any]:
        template_id = await templates.create(
            scope,
            request.TaskTemplateName,
            request.TaskTemplateDescription or "",
            common.dump(request.TaskTemplateInfo),
            [common.dump(t) for t in request.Tags or []],
        )
        return {"TaskTemplateId": template_id}

    async def describe_task_templates(
        scope: Scope, request: job_models.DescribeTaskTemplatesRequest
    ) -> dict[str, Any]:
        total, rows = await templates.search(
            scope,
            request.TaskTemplateIds,
            common.filters(request.Filters),
            *common.page(request),
        )
        return {
            "TaskTemplateSet": [
                {
                    "TaskTemplateId": row.template_id,
                    "TaskTemplateName": row.name,
                    "TaskTemplateDescription": row.description,
                    "TaskTemplateInfo": common.mask(json.loads(row.info)),
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
            values["info"] = json.dumps(common.dump(request.TaskTemplateInfo))
        await templates.modify(scope, request.TaskTemplateId, values)
        return {}

    async def delete_task_templates(
        scope: Scope, request: job_models.DeleteTaskTemplatesRequest
    ) -> dict[str, Any]:
        await templates.delete(scope, request.TaskTemplateIds)
        return {}

    return {
        "CreateTaskTemplate": (job_models.CreateTaskTemplateRequest, create_task_template),
        "DescribeTaskTemplates": (job_models.DescribeTaskTemplatesRequest, describe_task_templates),
        "ModifyTaskTemplate": (job_models.ModifyTaskTemplateRequest, modify_task_template),
        "DeleteTaskTemplates": (job_models.DeleteTaskTemplatesRequest, delete_task_templates),
    }
