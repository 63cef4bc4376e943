"""Queries over jobs, their tasks and task instances."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from batchd.domain.instance import Instance
from batchd.domain.job import Job, Task
from batchd.domain.scope import Scope
from batchd.domain.states import FINAL, DependOn, FailedAction, InstanceState
from batchd.store.repos import paging
from batchd.store.tables_batch import client_tokens, instances, jobs, tasks


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


def _to_instance(row: Any) -> Instance:
    return Instance(
        index=row.idx,
        state=InstanceState(row.state),
        attempt=row.attempt,
        exit_code=row.exit_code,
        reason=row.reason,
        detail=row.detail,
        node_id=row.node_id,
        env_id=row.env_id,
        create_ms=row.create_ms,
        launch_ms=row.launch_ms,
        running_ms=row.running_ms,
        end_ms=row.end_ms,
    )


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
    result = conn.execute(
        insert(jobs).values(
            job_id=job.job_id,
            account=scope.account,
            region=scope.region,
            name=job.name,
            description=description,
            priority=job.priority,
            zone=job.zone,
            state=job.state.value,
            reason="",
            next_action="",
            depend_on=job.depend_on.value,
            state_if_create_failed=state_if_create_failed,
            submit_info=json.dumps(submit_info),
            dependences=json.dumps([list(d) for d in job.dependences]),
            notifications=json.dumps(notifications),
            tags=json.dumps(tags),
            ever_running=False,
            sequence=0,
            created_ms=job.created_ms,
            end_ms=None,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    job_pk = int(key[0])
    for task, spec in task_rows:
        task_result = conn.execute(
            insert(tasks).values(
                job_pk=job_pk,
                position=task.position,
                name=task.name,
                state=task.state.value,
                instance_num=task.instance_num,
                env_id=task.env_id,
                anonymous=task.anonymous,
                spec=json.dumps(spec),
                max_retry=task.max_retry,
                timeout_s=task.timeout_s,
                failed_action=task.failed_action.value,
                max_concurrent=task.max_concurrent,
                ever_running=False,
                created_ms=task.created_ms,
                end_ms=None,
            )
        )
        task_key = task_result.inserted_primary_key
        assert task_key is not None
        conn.execute(
            insert(instances),
            [
                {
                    "task_pk": int(task_key[0]),
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


def active(conn: Connection) -> list[Job]:
    """Jobs not yet SUCCEED or FAILED (the controller's working set)."""
    rows = conn.execute(
        select(jobs)
        .where(jobs.c.state.not_in([s.value for s in FINAL]))
        .order_by(jobs.c.priority.desc(), jobs.c.created_ms, jobs.c.pk)
    ).all()
    return [_to_job(row) for row in rows]


def save_job(conn: Connection, job: Job) -> None:
    conn.execute(
        update(jobs)
        .where(jobs.c.pk == job.pk)
        .values(
            state=job.state.value,
            reason=job.reason,
            next_action=job.next_action,
            ever_running=job.ever_running,
            sequence=job.sequence,
            end_ms=job.end_ms,
        )
    )


def tasks_of(conn: Connection, job_pk: int) -> list[Task]:
    rows = conn.execute(
        select(tasks).where(tasks.c.job_pk == job_pk).order_by(tasks.c.position)
    ).all()
    return [_to_task(row) for row in rows]


def task_spec(conn: Connection, task_pk: int) -> dict[str, Any]:
    value = conn.execute(select(tasks.c.spec).where(tasks.c.pk == task_pk)).scalar_one()
    spec: dict[str, Any] = json.loads(value)
    return spec


def save_task(conn: Connection, task: Task) -> None:
    conn.execute(
        update(tasks)
        .where(tasks.c.pk == task.pk)
        .values(
            state=task.state.value,
            env_id=task.env_id,
            ever_running=task.ever_running,
            end_ms=task.end_ms,
        )
    )


def instances_of(
    conn: Connection,
    task_pk: int,
    states: Sequence[InstanceState] | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> list[Instance]:
    query = select(instances).where(instances.c.task_pk == task_pk)
    if states is not None:
        query = query.where(instances.c.state.in_([s.value for s in states]))
    query = query.order_by(instances.c.idx).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [_to_instance(row) for row in conn.execute(query).all()]


def state_counts(conn: Connection, task_pk: int) -> dict[InstanceState, int]:
    rows = conn.execute(
        select(instances.c.state, func.count())
        .where(instances.c.task_pk == task_pk)
        .group_by(instances.c.state)
    ).all()
    return {InstanceState(row[0]): int(row[1]) for row in rows}


_save_instance = (
    update(instances)
    .where(instances.c.task_pk == bindparam("b_task"), instances.c.idx == bindparam("b_idx"))
    .values(
        state=bindparam("b_state"),
        attempt=bindparam("b_attempt"),
        exit_code=bindparam("b_exit"),
        reason=bindparam("b_reason"),
        detail=bindparam("b_detail"),
        node_id=bindparam("b_node"),
        env_id=bindparam("b_env"),
        launch_ms=bindparam("b_launch"),
        running_ms=bindparam("b_running"),
        end_ms=bindparam("b_end"),
    )
)


def save_instances(conn: Connection, task_pk: int, changed: Sequence[Instance]) -> None:
    if not changed:
        return
    conn.execute(
        _save_instance,
        [
            {
                "b_task": task_pk,
                "b_idx": i.index,
                "b_state": i.state.value,
                "b_attempt": i.attempt,
                "b_exit": i.exit_code,
                "b_reason": i.reason,
                "b_detail": i.detail,
                "b_node": i.node_id,
                "b_env": i.env_id,
                "b_launch": i.launch_ms,
                "b_running": i.running_ms,
                "b_end": i.end_ms,
            }
            for i in changed
        ],
    )


def save_tails(conn: Connection, task_pk: int, index: int, stdout: bytes, stderr: bytes) -> None:
    conn.execute(
        update(instances)
        .where(instances.c.task_pk == task_pk, instances.c.idx == index)
        .values(stdout_tail=stdout, stderr_tail=stderr)
    )


def tails(conn: Connection, task_pk: int, indexes: Sequence[int]) -> dict[int, tuple[bytes, bytes]]:
    rows = conn.execute(
        select(instances.c.idx, instances.c.stdout_tail, instances.c.stderr_tail).where(
            instances.c.task_pk == task_pk, instances.c.idx.in_(list(indexes))
        )
    ).all()
    return {row[0]: (row[1], row[2]) for row in rows}


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


# --- idempotency -----------------------------------------------------------------------------


def token_owner(conn: Connection, scope: Scope, kind: str, token: str, since_ms: int) -> str | None:
    value = conn.execute(
        select(client_tokens.c.resource_id).where(
            client_tokens.c.account == scope.account,
            client_tokens.c.region == scope.region,
            client_tokens.c.kind == kind,
            client_tokens.c.token == token,
            client_tokens.c.created_ms >= since_ms,
        )
    ).scalar_one_or_none()
    return str(value) if value is not None else None


def remember_token(
    conn: Connection, scope: Scope, kind: str, token: str, resource_id: str, now_ms: int
) -> None:
    conn.execute(
        delete(client_tokens).where(
            client_tokens.c.account == scope.account,
            client_tokens.c.region == scope.region,
            client_tokens.c.kind == kind,
            client_tokens.c.token == token,
        )
    )
    conn.execute(
        insert(client_tokens).values(
            account=scope.account,
            region=scope.region,
            kind=kind,
            token=token,
            resource_id=resource_id,
            created_ms=now_ms,
        )
    )


def request_termination(conn: Connection, task_pk: int, index: int) -> None:
    conn.execute(
        update(instances)
        .where(instances.c.task_pk == task_pk, instances.c.idx == index)
        .values(terminate_requested=True)
    )


def termination_requests(conn: Connection, job_pk: int) -> set[tuple[int, int]]:
    """(task key, index) of instances whose termination was asked for and not yet done."""
    rows = conn.execute(
        select(instances.c.task_pk, instances.c.idx).where(
            instances.c.job_pk == job_pk, instances.c.terminate_requested.is_(True)
        )
    ).all()
    return {(row[0], row[1]) for row in rows}


def clear_termination(conn: Connection, task_pk: int, index: int) -> None:
    conn.execute(
        update(instances)
        .where(instances.c.task_pk == task_pk, instances.c.idx == index)
        .values(terminate_requested=False)
    )


def by_job_id(conn: Connection, job_id: str) -> Job | None:
    row = conn.execute(select(jobs).where(jobs.c.job_id == job_id)).first()
    return _to_job(row) if row is not None else None


def task_by_name(conn: Connection, job_pk: int, name: str) -> Task | None:
    row = conn.execute(select(tasks).where(tasks.c.job_pk == job_pk, tasks.c.name == name)).first()
    return _to_task(row) if row is not None else None


def instance_at(conn: Connection, task_pk: int, index: int) -> Instance | None:
    row = conn.execute(
        select(instances).where(instances.c.task_pk == task_pk, instances.c.idx == index)
    ).first()
    return _to_instance(row) if row is not None else None


def running_on_nodes(conn: Connection, node_ids: Sequence[str]) -> list[tuple[int, int, int]]:
    """(job key, task key, index) of STARTING/RUNNING instances on these nodes."""
    rows = conn.execute(
        select(instances.c.job_pk, instances.c.task_pk, instances.c.idx).where(
            instances.c.node_id.in_(list(node_ids)),
            instances.c.state.in_([InstanceState.STARTING.value, InstanceState.RUNNING.value]),
        )
    ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def in_flight(conn: Connection) -> list[tuple[int, int, int]]:
    """(job key, task key, index) of every STARTING or RUNNING instance."""
    rows = conn.execute(
        select(instances.c.job_pk, instances.c.task_pk, instances.c.idx).where(
            instances.c.state.in_([InstanceState.STARTING.value, InstanceState.RUNNING.value])
        )
    ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def has_unsettled_in_env(conn: Connection, env_id: str) -> bool:
    """Whether any instance placed in (or bound for) this environment is not settled."""
    unsettled = [s.value for s in InstanceState if s not in FINAL]
    found = conn.execute(
        select(instances.c.pk)
        .join(tasks, tasks.c.pk == instances.c.task_pk)
        .where(tasks.c.env_id == env_id, instances.c.state.in_(unsettled))
        .limit(1)
    ).first()
    return found is not None
