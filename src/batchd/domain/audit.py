"""The audit trail's record: who changed what, through which protocol, with what result."""

from __future__ import annotations

from dataclasses import dataclass

READ_PREFIXES = ("Describe", "Get", "List", "Receive", "BatchReceive", "Peek")
"""Actions named so only read (a receive changes a message's visibility, not what it is)."""


def changes_something(action: str) -> bool:
    """Whether an accepted call of `action` is recorded in the audit trail."""
    return not action.startswith(READ_PREFIXES)


@dataclass(slots=True, kw_only=True)
class Call:
    """A request whose first committed change is recorded, in that change's transaction."""

    secret_id: str
    account: str
    region: str
    protocol: str  # batch, tdmq, cmq, console
    action: str
    resource: str
    request_id: str
    recorded: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    entry_id: int
    at_ms: int
    secret_id: str
    account: str
    region: str
    protocol: str
    action: str
    resource: str
    result: str
    request_id: str
