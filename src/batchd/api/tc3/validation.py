"""A request object checked by its action's model; pydantic's complaints become Batch API errors.

Of several problems the most basic one is reported: an unknown field, then a missing one, then a
wrong JSON type, then a bad value (batch-api.md §1.4: UnknownParameter, MissingParameter,
InvalidParameter, InvalidParameterValue); a constraint from `rules` answers its own code.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from batchd.api.tc3.rules import CODED
from batchd.domain import errors

M = TypeVar("M", bound=BaseModel)

# pydantic's type errors, and what the field should have been
_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "float_type": "a number",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def parse(model: type[M], data: dict[str, Any]) -> M:
    """`data` as a `model`, or the BatchdError that says what is wrong with it."""
    try:
        return model.model_validate(data)
    except ValidationError as failure:
        raise translate(failure) from None


def _rank(detail: ErrorDetails) -> int:
    kind = detail["type"]
    if kind == "extra_forbidden":
        return 0
    if kind == "missing":
        return 1
    if kind in _EXPECTED:
        return 2
    return 3


def translate(failure: ValidationError) -> errors.BatchdError:
    """The error to answer for a failed validation."""
    detail = min(failure.errors(include_url=False), key=_rank)
    path = ".".join(str(part) for part in detail["loc"])
    kind = detail["type"]
    if kind == "extra_forbidden":
        return errors.UnknownParameter(f"The parameter `{path}` is not recognized", parameter=path)
    if kind == "missing":
        return errors.MissingParameter(
            f"The request is missing a required parameter `{path}`", parameter=path
        )
    if kind in _EXPECTED:
        return errors.ParameterTypeError(
            f"The value of `{path}` must be {_EXPECTED[kind]}", parameter=path
        )
    if kind == CODED:
        return _coded(detail, path)
    if kind == "literal_error":
        expected = (detail.get("ctx") or {}).get("expected", "")
        return errors.InvalidParameterValue(
            f"The value of `{path}` must be {expected}", parameter=path
        )
    return errors.InvalidParameterValue(
        f"The value of `{path}` is invalid: {detail['msg']}", parameter=path
    )


def _coded(detail: ErrorDetails, path: str) -> errors.BatchdError:
    context = detail.get("ctx") or {}
    code = str(context["code"])
    text = str(context["text"]).replace("{name}", path).replace("{at}", f"{path}." if path else "")
    parameter = path or None
    if code == "MissingParameter":
        return errors.MissingParameter(text, parameter=parameter, code=code)
    if code.startswith("InvalidParameterValue") or code == "InvalidFilter":
        return errors.InvalidParameterValue(text, parameter=parameter, code=code)
    return errors.InvalidParameter(text, parameter=parameter, code=code)
