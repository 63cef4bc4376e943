"""Writes each fired event next to the transition that fired it (same transaction)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from batchd.control.notify import Notifier
from batchd.domain import events as bodies
from batchd.domain.instance import Instance
from batchd.domain.job import Env, Job, Task
from batchd.domain.node import Node
from batchd.domain.scope import Scope
from batchd.domain.states import InstanceState
from batchd.store.database import Tx
from batchd.store.repos import envs as env_repo
from batchd.store.repos import events as event_repo


class JobRecorder:
    """Events of one job during one unit of work; numbers them with the job's sequence."""

    def __init__(self, tx: Tx, notifier: Notifier, job: Job, now_ms: int) -> None:
        self._tx = tx
        self._notifier = notifier
        self.job = job
        self.sequence = job.sequence
        self._now_ms = now_ms

    def _write(self, resource_id: str, name: str, body: dict[str, object]) -> None:
        self.sequence += 1
        event = event_repo.record(
            self._tx,
            account=self.job.account,
            region=self.job.region,
            resource_id=resource_id,
            owner_id=self.job.job_id,
            name=name,
            sequence=self.sequence,
            body=body,
            now_ms=self._now_ms,
        )
        scope = Scope(self.job.account, self.job.region)
        self._notifier.publish(self._tx, scope, self.job.job_id, event)

    def instance(
        self,
        task: Task,
        instance: Instance,
        names: Iterable[str],
        node_instance_ids: Mapping[str, str],
    ) -> None:
        for name in names:
            body = bodies.instance_body(self.job, task, instance, node_instance_ids)
            self._write(self.job.job_id, name, body)

    def task(self, task: Task, names: Iterable[str], states: Iterable[InstanceState]) -> None:
        listed = list(states)
        for name in names:
            self._write(self.job.job_id, name, bodies.task_body(self.job, task, listed))

    def job_event(
        self, job: Job, names: Iterable[str], task_states: Iterable[InstanceState]
    ) -> None:
        listed = list(task_states)
        for name in names:
            self._write(job.job_id, name, bodies.job_body(job, listed))


def env_event(
    tx: Tx,
    notifier: Notifier,
    env: Env,
    name: str,
    now_ms: int,
    deleted_ms: int | None = None,
) -> None:
    sequence = env_repo.next_sequence(tx.conn, env.pk)
    owner_id = env.anonymous_job_id or env.env_id
    event = event_repo.record(
        tx,
        account=env.account,
        region=env.region,
        resource_id=env.env_id,
        owner_id=owner_id,
        name=name,
        sequence=sequence,
        body=bodies.env_body(env, deleted_ms),
        now_ms=now_ms,
    )
    notifier.publish(tx, Scope(env.account, env.region), owner_id, event)


def node_event(
    tx: Tx,
    notifier: Notifier,
    env: Env,
    node: Node,
    names: Iterable[str],
    now_ms: int,
) -> None:
    for name in names:
        node_pk = env_repo.node_pk(tx.conn, node.node_id)
        sequence = env_repo.next_sequence(tx.conn, node_pk, node=True) if node_pk else 0
        owner_id = env.anonymous_job_id or env.env_id
        event = event_repo.record(
            tx,
            account=env.account,
            region=env.region,
            resource_id=node.node_id,
            owner_id=owner_id,
            name=name,
            sequence=sequence,
            body=bodies.node_body(env, node),
            now_ms=now_ms,
        )
        notifier.publish(tx, Scope(env.account, env.region), owner_id, event)
