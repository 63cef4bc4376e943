"""Who owns a resource: an account (AppId) in a region."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_REGION = 64  # regions are stored in 64-character columns
_REGION = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_REGION}}}")  # e.g. ap-guangzhou


def is_region(name: str) -> bool:
    """Whether `name` can be a region: every protocol accepts the same names."""
    return _REGION.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class Scope:
    account: str
    region: str
