"""The naming rule shared by queues, topics and subscriptions (cmq-api.md §1.6)."""

from __future__ import annotations

import re

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def is_valid_name(name: str) -> bool:
    """1-64 characters: a letter, then letters, digits, '-' or '_'."""
    return _NAME.fullmatch(name) is not None
