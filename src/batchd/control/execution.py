"""Execution of Effects: the compute backend does what a committed unit of work asked, in order."""

from __future__ import annotations

from batchd.compute.backend import ComputeBackend
from batchd.compute.runner import InstanceSpec
from batchd.control.effects import Effects


async def carry_out(backend: ComputeBackend, effects: Effects) -> None:
    """Open environments and add nodes first, then hand attempts over, kill, remove nodes and
    close environments last."""
    for env_id in effects.open_envs:
        await backend.open_env(env_id)
    for env_id, sizes in effects.add_nodes.items():
        await backend.open_env(env_id)
        await backend.add_nodes(env_id, sizes)
    by_env: dict[str, list[InstanceSpec]] = {}
    for env_id, spec in effects.submit:
        by_env.setdefault(env_id, []).append(spec)
    for env_id, specs in by_env.items():
        await backend.open_env(env_id)
        backend.submit(env_id, specs)
    for kill in effects.kill:
        await backend.kill(kill.env_id, kill.key, kill.reason, restart_node=kill.restart_node)
    for env_id, node_ids in effects.remove_nodes.items():
        await backend.remove_nodes(env_id, node_ids)
    for env_id in effects.close_envs:
        await backend.close_env(env_id)
