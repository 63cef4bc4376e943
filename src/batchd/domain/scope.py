"""Who owns a resource: an account (AppId) in a region."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scope:
    account: str
    region: str
