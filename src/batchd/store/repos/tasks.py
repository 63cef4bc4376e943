"""Queries over the tasks of jobs: list them, read a stored spec, save, find by name."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from batchd.domain.job import Task
from batchd.domain.states import FailedAction, InstanceState
from batchd.store.tables_batch import tasks


def _to_task(row: Any) -> Task:
    return Task(
        pk=row.pk,
        job_pk=row.job_pk,
        position=row.position,
        name=row.name,
        state=InstanceState(row.state),
        instance_num=row.instance_num,
        env_id=row.env_id,
        anonymous=bool(row.anonymous),
        max_retry=row.max_retry,
        timeout_s=row.timeout_s,
        failed_action=FailedAction(row.failed_action),
        max_concurrent=row.max_concurrent,
        ever_running=bool(row.ever_running),
        created_ms=row.created_ms,
        end_ms=row.end_ms,
    )


_tasks_of_jobs = (
    select(tasks)
    .where(tasks.c.job_pk.in_(bindparam("job_pks", expanding=True)))
    .order_by(tasks.c.job_pk, tasks.c.position)
)


def tasks_of_jobs(
    conn: Connection, job_pks: Sequence[int]
) -> tuple[dict[int, list[Task]], dict[int, str]]:
    """The tasks of each of these jobs, in position order, and each task's spec as stored (JSON
    text, see `task_spec`) by task key."""
    found: dict[int, list[Task]] = {pk: [] for pk in job_pks}
    specs: dict[int, str] = {}
    if job_pks:
        for row in conn.execute(_tasks_of_jobs, {"job_pks": list(job_pks)}).all():
            found[row.job_pk].append(_to_task(row))
            specs[row.pk] = row.spec
    return found, specs


def tasks_of(conn: Connection, job_pk: int) -> list[Task]:
    rows = conn.execute(
        select(tasks).where(tasks.c.job_pk == job_pk).order_by(tasks.c.position)
    ).all()
    return [_to_task(row) for row in rows]


_task_spec = select(tasks.c.spec).where(tasks.c.pk == bindparam("task_pk"))


def task_spec(conn: Connection, task_pk: int) -> dict[str, Any]:
    value = conn.execute(_task_spec, {"task_pk": task_pk}).scalar_one()
    spec: dict[str, Any] = json.loads(value)
    return spec


_save_task = (
    update(tasks)
    .where(tasks.c.pk == bindparam("b_pk"))
    .values(
        state=bindparam("b_state"),
        env_id=bindparam("b_env"),
        ever_running=bindparam("b_ever"),
        end_ms=bindparam("b_end"),
    )
)


def save_task(conn: Connection, task: Task) -> None:
    conn.execute(
        _save_task,
        {
            "b_pk": task.pk,
            "b_state": task.state.value,
            "b_env": task.env_id,
            "b_ever": task.ever_running,
            "b_end": task.end_ms,
        },
    )


def task_by_name(conn: Connection, job_pk: int, name: str) -> Task | None:
    row = conn.execute(select(tasks).where(tasks.c.job_pk == job_pk, tasks.c.name == name)).first()
    return _to_task(row) if row is not None else None
