"""Task templates through the official Batch SDK: create, describe, modify, delete."""

from __future__ import annotations

import pytest

from tests.batch.conftest import BatchApi


def test_task_templates_round_trip(batch: BatchApi) -> None:
    info = {
        "TaskName": "t",
        "EnvId": "env-abcdefgh",
        "TaskInstanceNum": 3,
        "Application": {"DeliveryForm": "LOCAL", "Command": "echo hi"},
    }
    created = batch(
        "CreateTaskTemplate",
        {
            "TaskTemplateName": "nightly",
            "TaskTemplateInfo": info,
            "TaskTemplateDescription": "runs at night",
            "Tags": [{"Key": "team", "Value": "a"}],
        },
    )
    template_id = created["TaskTemplateId"]
    assert template_id.startswith("task-tmpl-")

    found = batch("DescribeTaskTemplates", {"TaskTemplateIds": [template_id]})
    assert found["TotalCount"] == 1
    view = found["TaskTemplateSet"][0]
    assert (view["TaskTemplateName"], view["TaskTemplateDescription"]) == (
        "nightly",
        "runs at night",
    )
    assert view["TaskTemplateInfo"]["Application"]["Command"] == "echo hi"
    assert view["TaskTemplateInfo"]["TaskInstanceNum"] == 3
    by_name = batch(
        "DescribeTaskTemplates",
        {"Filters": [{"Name": "task-template-name", "Values": ["nightly"]}]},
    )
    assert by_name["TotalCount"] == 1
    by_tag = batch("DescribeTaskTemplates", {"Filters": [{"Name": "tag:team", "Values": ["b"]}]})
    assert by_tag["TotalCount"] == 0

    batch("ModifyTaskTemplate", {"TaskTemplateId": template_id, "TaskTemplateName": "daily"})
    view = batch("DescribeTaskTemplates", {})["TaskTemplateSet"][0]
    assert view["TaskTemplateName"] == "daily"

    batch("DeleteTaskTemplates", {"TaskTemplateIds": [template_id]})
    assert batch("DescribeTaskTemplates", {})["TotalCount"] == 0
    with pytest.raises(Exception, match=r"ResourceNotFound\.TaskTemplate"):
        batch("DeleteTaskTemplates", {"TaskTemplateIds": [template_id]})
    with pytest.raises(Exception, match=r"ResourceNotFound\.TaskTemplate"):
        batch("ModifyTaskTemplate", {"TaskTemplateId": template_id, "TaskTemplateName": "x"})
