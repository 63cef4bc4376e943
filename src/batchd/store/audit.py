"""Which request the writes of this task belong to, so that the first change a request commits
carries its audit entry in the same transaction (DESIGN.md: who did what, committed with it).

The API sets `CALLER` for a call that changes something; `Database.submit` reads it in the
caller's context. Writes made without one (the controller's, the janitor's) are not audited.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from batchd.domain.audit import Call

CALLER: ContextVar[Call | None] = ContextVar("batchd_audit_caller", default=None)


@contextlib.contextmanager
def calling(call: Call | None) -> Iterator[None]:
    """Writes inside the block are `call`'s (None: no audit)."""
    token = CALLER.set(call)
    try:
        yield
    finally:
        CALLER.reset(token)
