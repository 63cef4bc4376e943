"""Queries over jobs: store a submitted one with its tasks and instances, find, list the
unfinished ones in stepping order, save, search, delete."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from batchd.domain.job import Job, Task
from batchd.domain.scope import Scope
from batchd.domain.states import DependOn, InstanceState
from batchd.store.prepared import Prepared
from batchd.store.repos import instances as instance_repo
from batchd.store.repos import paging
from batchd.store.tables_batch import instances, jobs, tasks


def _to_job(row: Any) -> Job:
    return Job(
        pk=row.pk,
        job_id=row.job_id,
        account=row.account,
        region=row.region,
        name=row.name,
        priority=row.priority,
        zone=row.zone,
        state=InstanceState(row.state),
        reason=row.reason,
        next_action=row.next_action,
        depend_on=DependOn(row.depend_on),
        dependences=tuple((a, b) for a, b in json.loads(row.dependences)),
        ever_running=bool(row.ever_running),
        sequence=row.sequence,
        created_ms=row.created_ms,
        end_ms=row.end_ms,
    )


# Every SubmitJob runs these.
_insert_job = Prepared(insert(jobs), returning=jobs.c.pk)
_insert_task = Prepared(insert(tasks), returning=tasks.c.pk)
_insert_instances = Prepared(insert(instances))


def insert_job(
    conn: Connection,
    scope: Scope,
    job: Job,
    *,
    description: str,
    state_if_create_failed: str,
    submit_info: dict[str, Any],
    notifications: list[Any],
    tags: list[Any],
    task_rows: Sequence[tuple[Task, dict[str, Any]]],
) -> int:
    """Store a SUBMITTED job with its tasks and all their SUBMITTED instances."""
    job_pk = _insert_job.key(
        conn,
        {
            "job_id": job.job_id,
            "account": scope.account,
            "region": scope.region,
            "name": job.name,
            "description": description,
            "priority": job.priority,
            "zone": job.zone,
            "state": job.state.value,
            "reason": "",
            "next_action": "",
            "depend_on": job.depend_on.value,
            "state_if_create_failed": state_if_create_failed,
            "submit_info": json.dumps(submit_info),
            "dependences": json.dumps([list(d) for d in job.dependences]),
            "notifications": json.dumps(notifications),
            "tags": json.dumps(tags),
            "ever_running": False,
            "sequence": 0,
            "created_ms": job.created_ms,
            "end_ms": None,
        },
    )
    for task, spec in task_rows:
        task_pk = _insert_task.key(
            conn,
            {
                "job_pk": job_pk,
                "position": task.position,
                "name": task.name,
                "state": task.state.value,
                "instance_num": task.instance_num,
                "env_id": task.env_id,
                "anonymous": task.anonymous,
                "spec": json.dumps(spec),
                "max_retry": task.max_retry,
                "timeout_s": task.timeout_s,
                "failed_action": task.failed_action.value,
                "max_concurrent": task.max_concurrent,
                "ever_running": False,
                "created_ms": task.created_ms,
                "end_ms": None,
            },
        )
        _insert_instances.run(
            conn,
            [
                {
                    "task_pk": task_pk,
                    "job_pk": job_pk,
                    "idx": index,
                    "state": InstanceState.SUBMITTED.value,
                    "attempt": 0,
                    "exit_code": None,
                    "reason": "",
                    "detail": "",
                    "node_id": "",
                    "env_id": task.env_id,
                    "create_ms": job.created_ms,
                    "launch_ms": None,
                    "running_ms": None,
                    "end_ms": None,
                    "stdout_tail": b"",
                    "stderr_tail": b"",
                    "terminate_requested": False,
                }
                for index in range(task.instance_num)
            ],
        )
    return job_pk


def find(conn: Connection, scope: Scope, job_id: str) -> Job | None:
    row = conn.execute(
        select(jobs).where(
            jobs.c.job_id == job_id,
            jobs.c.account == scope.account,
            jobs.c.region == scope.region,
        )
    ).first()
    return _to_job(row) if row is not None else None


def row_of(conn: Connection, job_pk: int) -> Any:
    return conn.execute(select(jobs).where(jobs.c.pk == job_pk)).first()


def by_pk(conn: Connection, job_pk: int) -> Job:
    return _to_job(row_of(conn, job_pk))


_ORDER = (jobs.c.priority.desc(), jobs.c.created_ms, jobs.c.pk)


def active_ids(conn: Connection) -> list[str]:
    """Ids of the jobs not yet SUCCEED or FAILED, in the order the controller steps them."""
    rows = conn.execute(
        select(jobs.c.job_id).where(jobs.c.state.in_(instance_repo.NOT_FINAL)).order_by(*_ORDER)
    ).all()
    return [row[0] for row in rows]


_active_by_ids = (
    select(jobs)
    .where(
        jobs.c.job_id.in_(bindparam("job_ids", expanding=True)),
        jobs.c.state.in_(instance_repo.NOT_FINAL),
    )
    .order_by(*_ORDER)
)


def active_by_ids(conn: Connection, job_ids: Sequence[str]) -> list[Job]:
    """Those of these jobs that are not yet SUCCEED or FAILED, in stepping order."""
    if not job_ids:
        return []
    rows = conn.execute(_active_by_ids, {"job_ids": list(job_ids)}).all()
    return [_to_job(row) for row in rows]


_active_in_envs = (
    select(jobs.c.job_id)
    .distinct()
    .join(tasks, tasks.c.job_pk == jobs.c.pk)
    .where(
        jobs.c.state.in_(instance_repo.NOT_FINAL),
        tasks.c.env_id.in_(bindparam("env_ids", expanding=True)),
    )
)


def active_in_envs(conn: Connection, env_ids: Sequence[str]) -> list[str]:
    """Ids of the unfinished jobs with a task in one of these environments."""
    if not env_ids:
        return []
    return [row[0] for row in conn.execute(_active_in_envs, {"env_ids": list(env_ids)}).all()]


_save_job = (
    update(jobs)
    .where(jobs.c.pk == bindparam("b_pk"))
    .values(
        state=bindparam("b_state"),
        reason=bindparam("b_reason"),
        next_action=bindparam("b_next"),
        ever_running=bindparam("b_ever"),
        sequence=bindparam("b_sequence"),
        end_ms=bindparam("b_end"),
    )
)


def save_job(conn: Connection, job: Job) -> None:
    conn.execute(
        _save_job,
        {
            "b_pk": job.pk,
            "b_state": job.state.value,
            "b_reason": job.reason,
            "b_next": job.next_action,
            "b_ever": job.ever_running,
            "b_sequence": job.sequence,
            "b_end": job.end_ms,
        },
    )


def search(
    conn: Connection,
    scope: Scope,
    job_ids: Sequence[str] | None,
    filters: Sequence[tuple[str, list[str]]],
    offset: int,
    limit: int,
) -> tuple[int, list[Any]]:
    where: list[Any] = [jobs.c.account == scope.account, jobs.c.region == scope.region]
    if job_ids is not None:
        where.append(jobs.c.job_id.in_(list(job_ids)))
    columns = {
        "job-id": jobs.c.job_id,
        "job-name": jobs.c.name,
        "job-state": jobs.c.state,
        "zone": jobs.c.zone,
    }
    order = (jobs.c.created_ms.desc(), jobs.c.job_id)
    return paging.page(conn, jobs, where, columns, filters, order, offset, limit)


def delete_job(conn: Connection, job: Job) -> None:
    conn.execute(delete(instances).where(instances.c.job_pk == job.pk))
    conn.execute(delete(tasks).where(tasks.c.job_pk == job.pk))
    conn.execute(delete(jobs).where(jobs.c.pk == job.pk))


def by_job_id(conn: Connection, job_id: str) -> Job | None:
    row = conn.execute(select(jobs).where(jobs.c.job_id == job_id)).first()
    return _to_job(row) if row is not None else None
