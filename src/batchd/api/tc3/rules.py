"""Building blocks of the request models: their base, and constraints that answer a specific code.

A validator refuses a value by raising `refuse(code, text)`; `validation.py` turns that into the
error envelope with exactly `code`. In `text`, `{name}` becomes the dotted path of the refused
field (`Job.Tasks.0.TaskName`) and `{at}` the path prefix of the object a model validator checks
(`Job.Tasks.0.`, empty at the top level). Plain pydantic failures (missing field, wrong JSON type,
`Literal` mismatch, unknown field) get the common codes without any help from here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sized
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

CODED = "tc3_code"
"""The pydantic error type whose context carries the Batch API code to answer."""

T = TypeVar("T")


class Wire(BaseModel):
    """A request object of the Batch API: field names are the API's, unknown fields are refused.

    Strict: a JSON string is not an integer, `1` is not a boolean. (GET and signature-v1 forms
    send text; `form.rebuild` converts it to the field types before validation.)
    """

    model_config = ConfigDict(extra="forbid", strict=True)


def refuse(code: str, text: str) -> PydanticCustomError:
    """The error a validator raises to answer `code`; see the module docstring for `text`."""
    return PydanticCustomError(CODED, text, {"code": code, "text": text})


def _after(check: Callable[[T], None]) -> AfterValidator:
    def run(value: T) -> T:
        check(value)
        return value

    return AfterValidator(run)


def text_max(limit: int, code: str = "InvalidParameterValue") -> AfterValidator:
    """A string of at most `limit` characters."""

    def check(value: str) -> None:
        if len(value) > limit:
            raise refuse(code, f"`{{name}}` must be at most {limit} characters long")

    return _after(check)


def text_min(limit: int, code: str = "InvalidParameterValue") -> AfterValidator:
    """A string of at least `limit` characters."""

    def check(value: str) -> None:
        if len(value) < limit:
            raise refuse(code, f"`{{name}}` must be at least {limit} characters long")

    return _after(check)


def text_pattern(pattern: str, code: str, rule: str) -> AfterValidator:
    """A string matching `pattern` in full; `rule` says in words what is allowed."""
    compiled = re.compile(pattern)

    def check(value: str) -> None:
        if not compiled.fullmatch(value):
            raise refuse(code, f"`{{name}}` must be {rule}")

    return _after(check)


def items_max(limit: int, code: str = "InvalidParameterValue") -> AfterValidator:
    """A list of at most `limit` items."""

    def check(value: Sized) -> None:
        if len(value) > limit:
            raise refuse(code, f"`{{name}}` may hold at most {limit} items")

    return _after(check)


def items_min(limit: int, code: str = "InvalidParameterValue") -> AfterValidator:
    """A list of at least `limit` items."""

    def check(value: Sized) -> None:
        if len(value) < limit:
            raise refuse(code, f"`{{name}}` must hold at least {limit} item(s)")

    return _after(check)


def distinct(code: str = "InvalidParameterValue") -> AfterValidator:
    """A list of hashable items without repeats."""

    def check(value: list[Any]) -> None:
        seen: set[Any] = set()
        for item in value:
            if item in seen:
                raise refuse(code, f"`{{name}}` lists {item!r} more than once")
            seen.add(item)

    return _after(check)


def between(
    low: int | None, high: int | None, code: str = "InvalidParameterValue"
) -> AfterValidator:
    """An integer in [low, high]; None leaves that side open."""

    def check(value: int) -> None:
        if (low is not None and value < low) or (high is not None and value > high):
            lower = "" if low is None else f" from {low}"
            upper = "" if high is None else f" up to {high}"
            raise refuse(code, f"`{{name}}` must be{lower}{upper}, not {value}")

    return _after(check)


def _not_negative(value: int) -> None:
    if value < 0:
        raise refuse("InvalidParameterValue.Negative", "`{name}` must not be negative")


NOT_NEGATIVE = _after(_not_negative)


def resource_id(prefix: str, code: str) -> AfterValidator:
    """An id `<prefix>-` + 8 lowercase letters or digits (DESIGN.md "Identifiers")."""
    return text_pattern(
        rf"{re.escape(prefix)}-[a-z0-9]{{8}}", code, f"an id like `{prefix}-` + 8 letters/digits"
    )


def choice(values: tuple[str, ...], code: str) -> AfterValidator:
    """A string among `values`, refused with a specific `code` (plain `Literal` answers
    `InvalidParameterValue`)."""

    def check(value: str) -> None:
        if value not in values:
            listed = ", ".join(values)
            raise refuse(code, f"`{{name}}` must be one of {listed}, not {value!r}")

    return _after(check)


def exclusive(model: BaseModel, names: tuple[str, ...], code: str) -> None:
    """Refuse a model on which more than one of `names` is given."""
    given = [name for name in names if getattr(model, name) is not None]
    if len(given) > 1:
        listed = " and ".join(f"`{{at}}{name}`" for name in given)
        raise refuse(code, f"{listed} cannot be given together")


def one_of(
    model: BaseModel, names: tuple[str, ...], code: str, missing_code: str | None = None
) -> None:
    """Refuse a model on which not exactly one of `names` is given (none: `missing_code`)."""
    exclusive(model, names, code)
    if all(getattr(model, name) is None for name in names):
        listed = " or ".join(f"`{{at}}{name}`" for name in names)
        raise refuse(missing_code or code, f"one of {listed} is required")


# --- value types used across the models ---------------------------------------------------

UInt = Annotated[int, NOT_NEGATIVE]
"""The SDK's uint64: a negative value answers `InvalidParameterValue.Negative`."""

Offset = Annotated[int, between(0, None)]
"""An int64 offset: negative answers `InvalidParameterValue`."""

ClientToken = Annotated[
    str,
    text_pattern(
        r"[\x20-\x7e]{0,64}", "InvalidParameterValue", "at most 64 printable ASCII characters"
    ),
]

JobId = Annotated[str, resource_id("job", "InvalidParameter.JobIdMalformed")]
EnvId = Annotated[str, resource_id("env", "InvalidParameter.EnvIdMalformed")]
ComputeNodeId = Annotated[str, resource_id("node", "InvalidParameter.ComputeNodeIdMalformed")]
TaskTemplateId = Annotated[
    str, resource_id("task-tmpl", "InvalidParameter.TaskTemplateIdMalformed")
]
