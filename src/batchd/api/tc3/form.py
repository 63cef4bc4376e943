"""Flattened parameters (GET query, signature-v1 form) rebuilt into the request object.

The SDK flattens `{"Job": {"Tasks": [{"TaskInstanceNum": 2}]}}` to `Job.Tasks.0.TaskInstanceNum=2`
(batch-api.md §1.1): a decimal segment is a list index, every value is text (ints in decimal,
bools as `True`/`False`). `rebuild` undoes that and converts each text value to the type the
request model declares at its place, so the same strict model validates JSON and form requests.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterable
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from batchd.domain import errors

_INTEGER = re.compile(r"[+-]?[0-9]+")
_BOOLEANS = {"true": True, "false": False}


def rebuild(pairs: Iterable[tuple[str, str]], model: type[BaseModel]) -> dict[str, Any]:
    """The request object of flattened `pairs`, with values typed after `model`."""
    tree: dict[str, Any] = {}
    for key, value in pairs:
        _insert(tree, key, value)
    return {
        key: _typed(_listify(value, key), _field_type(model, key)) for key, value in tree.items()
    }


def _malformed(key: str, why: str) -> errors.BatchdError:
    return errors.MalformedParameterName(f"The parameter `{key}` {why}", parameter=key)


def _insert(tree: dict[str, Any], key: str, value: str) -> None:
    segments = key.split(".")
    if any(segment == "" for segment in segments):
        raise _malformed(key, "has an empty name segment")
    node = tree
    for depth, segment in enumerate(segments[:-1]):
        child = node.setdefault(segment, {})
        if not isinstance(child, dict):
            raise _malformed(".".join(segments[: depth + 1]), "is both a value and an object")
        node = child
    last = segments[-1]
    if last in node:
        raise _malformed(key, "is given more than once")
    node[last] = value


def _listify(value: Any, path: str) -> Any:
    """Objects whose keys are all decimal become lists (their keys must be 0, 1, … n-1)."""
    if not isinstance(value, dict):
        return value
    if value and all(key.isdecimal() for key in value):
        indexes = sorted(int(key) for key in value)
        if indexes != list(range(len(indexes))):
            raise _malformed(path, "has list indexes that do not count up from 0")
        return [_listify(value[str(index)], f"{path}.{index}") for index in indexes]
    return {key: _listify(item, f"{path}.{key}") for key, item in value.items()}


def unwrap(annotation: Any) -> Any:
    """The type under `Annotated[...]` and `X | None` (a model, `list[...]`, `int`, …)."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            present = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(present) != 1:
                return annotation
            annotation = present[0]
        else:
            return annotation


def _field_type(model: type[BaseModel], name: str) -> Any:
    field = model.model_fields.get(name)
    return None if field is None else field.annotation


def _typed(value: Any, annotation: Any) -> Any:
    """`value` with its text converted to `annotation` where that is unambiguous; anything that
    does not fit is left as is for the model to refuse with the right code."""
    kind = unwrap(annotation)
    if isinstance(kind, type) and issubclass(kind, BaseModel) and isinstance(value, dict):
        return {key: _typed(item, _field_type(kind, key)) for key, item in value.items()}
    if get_origin(kind) is list and isinstance(value, list):
        (item_type,) = get_args(kind)
        return [_typed(item, item_type) for item in value]
    if not isinstance(value, str):
        return value
    if kind is bool:
        return _BOOLEANS.get(value.lower(), value)
    if kind is int and _INTEGER.fullmatch(value):
        return int(value)
    return value
