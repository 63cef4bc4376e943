"""The data directory and the credentials file are the server's alone: created owner-only, and
refused when other users can read them (they hold every account's keys and messages)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

OWNER_ONLY_UMASK = 0o077


class OpenToOthers(Exception):
    """A private path others can read; the message names it and the `chmod` that fixes it."""


def create_directory(path: Path) -> None:
    """`path` (and missing parents) made as 0700; an existing one is left as it is."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def open_to_others(path: Path) -> bool:
    """Whether users other than the owner may read or write `path` (entering a directory
    without listing it, 0711, is how isolated commands reach their work dirs)."""
    try:
        return bool(stat.S_IMODE(path.stat().st_mode) & 0o066)
    except FileNotFoundError:
        return False


def require_private(path: Path, *, directory: bool, flag: str | None = None) -> None:
    """Raise OpenToOthers when others can read `path`, saying how to close it (or which `flag`
    starts anyway)."""
    if not open_to_others(path):
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    fix = f"chmod {'700' if directory else '600'} {path.resolve()}"
    anyway = f", or start with {flag} to serve it anyway" if flag else ""
    raise OpenToOthers(
        f"{path.resolve()} can be read by other users (mode {mode:o}): run `{fix}`{anyway}"
    )


def restrict_new_files() -> None:
    """Every file and directory this process (and its children) creates is owner-only."""
    os.umask(OWNER_ONLY_UMASK)
