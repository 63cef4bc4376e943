"""Commands without batchd's privileges: on a node run by root, each attempt's commands run
under a user id of their own, which owns the attempt's work dir and nothing else.

Why a user id and not a sandbox: switching costs a launch one small exec (setpriv, in
`process`), while a bubblewrap sandbox (namespaces, mounts) costs 13-16 ms a command on this
project's machines, several times a tiny command's whole run. What it rests on:

- the data directory, its database and credentials are owner-only files of root; the directories
  above a work dir (`<data dir>`, `work/`, the job's and the task's) may be entered by others but
  not listed (0711), so a command reaches its own work dir and nothing it cannot name and open;
- a work dir is given to the attempt's id (0700, what was staged into it as well) for the
  attempt's run, and taken back by root when the attempt ends;
- the id is `UID_BASE` + the worker process's pid: no two live workers share one, so no two
  attempts that run at the same time on a machine do; a later attempt of the same worker finds
  its predecessors' work dirs root's again.

A node that does not run as root cannot switch ids: its commands run as its own user, and the
server warns of that at start.
"""

from __future__ import annotations

import os
from pathlib import Path

UID_BASE = 2_000_000_000  # far above any account a system or its containers hand out
TRAVERSE_ONLY = 0o711
OWNER_ONLY = 0o700


def can_switch() -> bool:
    """Whether this process may run commands under other ids."""
    return os.geteuid() == 0


def command_id(isolate: bool) -> int | None:
    """The user (and group) id for this worker's commands, or None to run them as itself."""
    if not isolate or not can_switch():
        return None
    return UID_BASE + os.getpid()


def open_path_to(directory: Path, levels: int) -> None:
    """Let others enter (not list) `directory` and the `levels - 1` directories above it."""
    for step in [directory, *directory.parents][:levels]:
        os.chmod(step, TRAVERSE_ONLY)


def hand_over(work_dir: str, uid: int) -> None:
    """The work dir and everything staged into it to `uid`, its task's and job's directories
    enterable on the way there."""
    root = Path(work_dir)
    open_path_to(root.parent, 2)
    os.chown(root, uid, uid)
    os.chmod(root, OWNER_ONLY)
    for directory, names, files in os.walk(root):
        for name in [*names, *files]:
            os.lchown(os.path.join(directory, name), uid, uid)


def take_back(work_dir: str) -> None:
    """The work dir root's again: closed to any later command of the same id."""
    os.chown(work_dir, 0, 0)
    os.chmod(work_dir, OWNER_ONLY)
