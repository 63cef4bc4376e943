"""What the Batch API handlers share: reading requests (pages, filters, zones, notifications,
node sizes) and masking secrets in echoes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from batchd.domain import errors
from batchd.domain import notifications as notification_rules
from batchd.domain.node import size_of_instance_type
from batchd.domain.scope import Scope

DEFAULT_NODE_SIZE = (1, 1)
SECRET_MASK = "******"


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_none=True)


def filters(filters: list[Any] | None) -> list[tuple[str, list[str]]]:
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


def mask(value: Any) -> Any:
    """Echoes never show secrets."""
    if isinstance(value, dict):
        return {
            k: SECRET_MASK if k in ("SecretKey", "Password") and v else mask(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def page(request: Any, default_limit: int = 20) -> tuple[int, int]:
    """(offset, limit) of a Describe* request; an explicit Limit of 0 stays 0."""
    limit = default_limit if request.Limit is None else request.Limit
    return request.Offset or 0, limit


MAX_ZONE = 64  # the stored column's size


def zone(scope: Scope, zone: str) -> str:
    """A zone is a free label, but it must belong to the request's region."""
    if len(zone) > MAX_ZONE:
        raise errors.InvalidParameterValue(
            f"zone names have at most {MAX_ZONE} characters, e.g. {scope.region}-2",
            parameter="Placement.Zone",
            code="InvalidParameterValue.UnavailableZone",
        )
    if not zone.startswith(f"{scope.region}-"):
        raise errors.InvalidParameterValue(
            f"zone {zone!r} is not in region {scope.region}: use a zone named {scope.region}-N",
            parameter="Placement.Zone",
            code="InvalidZone.MismatchRegion",
        )
    return zone


def notifications(items: list[Any] | None, *, on_job: bool) -> list[dict[str, Any]]:
    """Checked (events.md §2.3), with canonical event names: the stored and echoed form."""
    return notification_rules.check([dump(n) for n in items or []], on_job=on_job)
