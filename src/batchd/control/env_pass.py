"""The tick's pass over compute environments: step those with work, then read each one's view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from batchd.control import nodes as node_steps
from batchd.control.effects import Effects
from batchd.control.notify import Notifier
from batchd.domain.job import Env
from batchd.domain.node import ALIVE
from batchd.domain.states import NodeState
from batchd.store.database import Tx
from batchd.store.repos import envs as env_repo

N = NodeState


@dataclass
class EnvView:
    """What hand-over needs to know about an environment this tick."""

    env_id: str
    running_nodes: int
    usable: bool
    failed_creations: int = 0  # node creations that failed so far
    coming_nodes: int = 0  # nodes requested, starting or abnormal: they may yet run work
    if_creation_failed: str = ""  # anonymous envs: the job's StateIfCreateCvmFailed


def step_envs(
    tx: Tx,
    notifier: Notifier,
    now_ms: int,
    effects: Effects,
    before: Mapping[str, EnvView | None],
) -> tuple[dict[str, EnvView | None], list[str], int | None]:
    """Start requested nodes, tear deleting environments down; answers every environment's
    view, the ids of those whose view is not what it was (`before`), and when the next
    requested node that must wait is due (ms), if any."""
    envs = env_repo.all_envs(tx.conn)
    counts = env_repo.node_counts(tx.conn)
    busy = [env for env in envs if env.deleting or counts.get(env.pk, {}).get(N.SUBMITTED)]
    due = [node_steps.step_env(tx, notifier, env, now_ms, effects) for env in busy]
    if busy:
        envs = env_repo.all_envs(tx.conn)
        counts = env_repo.node_counts(tx.conn)
    views: dict[str, EnvView | None] = {
        env.env_id: _view(env, counts.get(env.pk, {})) for env in envs
    }
    changed = sorted(
        env_id for env_id in before.keys() | views.keys() if before.get(env_id) != views.get(env_id)
    )
    return views, changed, min((ms for ms in due if ms is not None), default=None)


def view_of(tx: Tx, env_id: str) -> EnvView | None:
    env = env_repo.by_id(tx.conn, env_id)
    if env is None:
        return None
    counts: dict[NodeState, int] = {}
    for node in env_repo.nodes_of(tx.conn, env):
        counts[node.state] = counts.get(node.state, 0) + 1
    return _view(env, counts)


def _view(env: Env, counts: dict[NodeState, int]) -> EnvView:
    running = counts.get(N.RUNNING, 0)
    return EnvView(
        env.env_id,
        running,
        usable=not env.deleting,
        failed_creations=env.creation_failures,
        coming_nodes=sum(counts.get(state, 0) for state in ALIVE) - running,
        if_creation_failed=env.if_creation_failed,
    )
