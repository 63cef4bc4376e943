"""Recovery after a restart: attempts that were in flight are lost; nodes are started again."""

from __future__ import annotations

from dataclasses import dataclass

from batchd.compute.backend import NodeSize
from batchd.control import nodes as node_steps
from batchd.control.effects import Effects
from batchd.control.notify import Notifier
from batchd.control.outcome import Outcome
from batchd.domain import instance as instance_machine
from batchd.domain.states import InstanceState
from batchd.store.database import Tx
from batchd.store.repos import envs as env_repo
from batchd.store.repos import instances as instance_repo
from batchd.store.repos import jobs as job_repo
from batchd.store.repos import tasks as task_repo


@dataclass(frozen=True, slots=True)
class Recovery:
    """What a restart leaves to the controller: backend work, lost attempts, jobs to step."""

    effects: Effects
    lost: list[tuple[str, str, Outcome]]  # (job id, task name, the attempt's end)
    requeued_jobs: list[str]  # job ids with an attempt put back to wait


def recover(tx: Tx, notifier: Notifier, now_ms: int) -> Recovery:
    """After a restart: attempts that were in flight are lost; nodes are started again."""
    lost: list[tuple[str, str, Outcome]] = []
    # Built afresh on each call: a unit may run twice when its group is redone.
    requeued_jobs: list[str] = []
    for job_pk, task_pk, index in instance_repo.in_flight(tx.conn):
        job = job_repo.by_pk(tx.conn, job_pk)
        instance = instance_repo.instance_at(tx.conn, task_pk, index)
        task = next(t for t in task_repo.tasks_of(tx.conn, job_pk) if t.pk == task_pk)
        if instance is not None and instance.state is InstanceState.STARTING:
            requeued, _ = instance_machine.requeue(instance)
            instance_repo.save_instances(tx.conn, task_pk, [requeued])
            requeued_jobs.append(job.job_id)
        elif instance is not None:
            lost.append(
                (
                    job.job_id,
                    task.name,
                    Outcome(
                        index=index,
                        attempt=instance.attempt,
                        finished=True,
                        error="COMPUTE_NODE_LOST",
                    ),
                )
            )
    effects = Effects()
    for env in env_repo.all_envs(tx.conn):
        effects.open_envs.append(env.env_id)
        for node in env_repo.nodes_of(tx.conn, env):
            if node_steps.restart(tx, notifier, env, node, now_ms):
                effects.add_nodes.setdefault(env.env_id, []).append(
                    NodeSize(node.node_id, node.cpu, node.mem_gib)
                )
    return Recovery(effects, lost, requeued_jobs)
