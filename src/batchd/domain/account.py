"""Accounts and their API keys."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class Credential:
    """One API key of an account (AppId)."""

    app_id: str
    secret_id: str
    secret_key: str = field(repr=False)
