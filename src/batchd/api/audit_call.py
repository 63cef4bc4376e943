"""The audit trail's view of a request: whether it changes something, and which resource it
names (`QueueName=q1`, `JobId=job-…`, `TopicName=t,SubscriptionName=s`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from batchd.domain.audit import Call, changes_something
from batchd.domain.scope import Scope

# The fields that name what an API 3.0 request is about, in the order they are listed.
TC3_FIELDS = (
    "JobId",
    "JobIds",
    "EnvId",
    "TaskName",
    "TaskInstanceIndex",
    "ComputeNodeId",
    "ComputeNodeIds",
    "InstanceIds",
    "TaskTemplateId",
    "TaskTemplateIds",
    "OwnerId",
    "QueueName",
    "SourceQueueName",
    "TopicName",
    "SubscriptionName",
    "AccountName",
    "AppId",
    "SecretId",
)
CMQ_FIELDS = ("queueName", "topicName", "subscriptionName")
# Creations name the new resource inside their request object.
NESTED_NAMES = {"Job": "JobName", "ComputeEnv": "EnvName", "TaskTemplateInfo": "TaskTemplateName"}
MAX_RESOURCE = 1000


def resource(data: Mapping[str, Any], fields: tuple[str, ...] = TC3_FIELDS) -> str:
    """`Field=value` pairs of the request's naming `fields` (lists joined by `;`)."""
    found = [(name, data[name]) for name in fields if name in data]
    for outer, inner in NESTED_NAMES.items():
        nested = data.get(outer)
        if isinstance(nested, Mapping) and inner in nested:
            found.append((inner, nested[inner]))
    text = ",".join(f"{name}={_text(value)}" for name, value in found)
    return text[:MAX_RESOURCE]


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ";".join(str(item) for item in value)
    return str(value)


def call(
    protocol: str,
    action: str,
    scope: Scope,
    secret_id: str,
    request_id: str,
    data: Mapping[str, Any] | Iterable[tuple[str, str]],
    fields: tuple[str, ...] = TC3_FIELDS,
) -> Call | None:
    """The audit record to keep if this accepted request changes something, else None."""
    if not changes_something(action):
        return None
    named = data if isinstance(data, Mapping) else dict(data)
    return Call(
        secret_id=secret_id,
        account=scope.account,
        region=scope.region,
        protocol=protocol,
        action=action,
        resource=resource(named, fields),
        request_id=request_id,
    )
