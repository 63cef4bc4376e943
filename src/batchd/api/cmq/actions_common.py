"""What every CMQ action is made of: the Reply it answers, its registration by name, and the
paging, message-body and time spellings several actions share."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from batchd.api.cmq.params import Params, Spec
from batchd.domain import errors
from batchd.domain import queue as queue_rules
from batchd.domain.scope import Scope
from batchd.mq.service import MessageService

MAX_LIST_LIMIT = 50
MAX_BATCH_BYTES = 1024 * 1024
MAX_OFFSET = 2**31 - 1  # larger values overflow the databases' integer columns


@dataclass(slots=True)
class Reply:
    fields: dict[str, Any] = field(default_factory=dict)
    code: int = 0
    message: str = ""


Handler = Callable[[MessageService, Scope, Params], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Action:
    spec: Spec
    handler: Handler


def action(
    table: dict[str, Action], name: str, scalars: tuple[str, ...] = (), lists: tuple[str, ...] = ()
) -> Callable[[Handler], Handler]:
    """Register the decorated handler in `table` as the action `name`, taking these parameters."""

    def register(handler: Handler) -> Handler:
        table[name] = Action(Spec(frozenset(scalars), frozenset(lists)), handler)
        return handler

    return register


# --- helpers ---------------------------------------------------------------------------------


def seconds(ms: int) -> int:
    return ms // 1000


def paging(p: Params, max_limit: int, max_offset: int | None = None) -> tuple[str, int, int]:
    offset = p.integer("offset", 0)
    limit = p.integer("limit", 20)
    if not 0 <= offset <= (MAX_OFFSET if max_offset is None else max_offset):
        raise errors.InvalidParameterValue(parameter="offset")
    if not 0 <= limit <= max_limit:
        raise errors.InvalidParameterValue(f"allowed 0-{max_limit}", parameter="limit")
    search = p.text("searchWord", "")
    if len(search) > 64:  # longer than any name; SQLite refuses LIKE patterns over 50 000 bytes
        raise errors.InvalidParameterValue("at most 64 characters", parameter="searchWord")
    return search, offset, limit


def message_bodies(p: Params, name: str = "msgBody") -> list[str]:
    bodies = p.items(name)
    if bodies is None:
        raise errors.MissingParameter(parameter=name)
    queue_rules.check_batch(len(bodies), name)
    if sum(len(body.encode("utf-8")) for body in bodies) > MAX_BATCH_BYTES:
        raise errors.BatchTooLarge(parameter=name)
    return bodies
