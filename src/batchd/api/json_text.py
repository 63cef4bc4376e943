"""JSON read from a request or a message: decoded, or refused when it cannot be or when it nests
deeper than any request of the APIs does (a body of 10,000 `[` would otherwise exhaust the
parser's recursion and answer an internal error)."""

from __future__ import annotations

import json
from typing import Any

from batchd.domain import errors

MAX_DEPTH = 32
"""Deepest nesting of objects and lists accepted; the APIs' deepest requests use about 8."""


def loads(text: str) -> Any:
    """The JSON value of `text`, or MalformedBody saying what is wrong with it."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise _too_deep() from None
    except ValueError as error:
        raise errors.MalformedBody(f"The body is not valid JSON: {error}") from None
    if nesting(value) > MAX_DEPTH:
        raise _too_deep()
    return value


def nesting(value: Any) -> int:
    """How deep objects and lists nest in `value` (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _too_deep() -> errors.BatchdError:
    return errors.MalformedBody(f"The body nests objects and lists deeper than {MAX_DEPTH} levels")
