"""How attempts handed over together are cut into Dask tasks: one each while the backlog is
shallow; packs of several attempts of one task when it is deep, so that the cost of one Dask
task is shared by many tiny attempts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from batchd.compute.instance import InstanceSpec

PACKS_PER_WORKER = 4  # at least this many packs per worker, so that Dask still balances load
MAX_PACK = 32  # bounds how long the rest of a pack waits behind one slow attempt


def pack_size(backlog: int, workers: int) -> int:
    """Attempts per pack for `backlog` attempts of one task over `workers` workers."""
    return max(1, min(MAX_PACK, backlog // (max(1, workers) * PACKS_PER_WORKER)))


def plan(
    specs: Sequence[InstanceSpec],
    workers: int,
    queued: Mapping[tuple[str, str], int] | None = None,
) -> list[list[InstanceSpec]]:
    """`specs` cut into packs, in their order within each task. `queued`: attempts of each
    (job id, task name) handed over before and not ended yet, which deepen its backlog (the
    controller hands a large task over in parts).

    Attempts pinned to a node or running in a container go alone: a pack runs where Dask places
    it, and a container's start costs more than a Dask task anyway. So do those whose node
    restarts after them (RestartComputeNode): the rest of a pack would run before the restart.
    """
    packs: list[list[InstanceSpec]] = []
    by_task: dict[tuple[str, str], list[InstanceSpec]] = {}
    for spec in specs:
        if spec.node_id or spec.docker_image is not None or spec.restart_node:
            packs.append([spec])
        else:
            by_task.setdefault((spec.job_id, spec.task_name), []).append(spec)
    for task, group in by_task.items():
        size = pack_size(len(group) + (queued or {}).get(task, 0), workers)
        packs.extend(group[start : start + size] for start in range(0, len(group), size))
    return packs
