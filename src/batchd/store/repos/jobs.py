"""Queries over jobs, their tasks and task instances."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Integer, Select, bindparam, delete, func, insert, select, update

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


# Statements built once: building one per call (and its cache key) costs more than running it.
_insert_job = insert(jobs)
_insert_task = insert(tasks)
_insert_instances = insert(instances)


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
        _insert_job,
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
    key = result.inserted_primary_key
    assert key is not None
    job_pk = int(key[0])
    for task, spec in task_rows:
        task_result = conn.execute(
            _insert_task,
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
        task_key = task_result.inserted_primary_key
        assert task_key is not None
        conn.execute(
            _insert_instances,
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


_ORDER = (jobs.c.priority.desc(), jobs.c.created_ms, jobs.c.pk)
_NOT_FINAL = [s.value for s in InstanceState if s not in FINAL]


def active_ids(conn: Connection) -> list[str]:
    """Ids of the jobs not yet SUCCEED or FAILED, in the order the controller steps them."""
    rows = conn.execute(
        select(jobs.c.job_id).where(jobs.c.state.in_(_NOT_FINAL)).order_by(*_ORDER)
    ).all()
    return [row[0] for row in rows]


_active_by_ids = (
    select(jobs)
    .where(jobs.c.job_id.in_(bindparam("job_ids", expanding=True)), jobs.c.state.in_(_NOT_FINAL))
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
    .where(jobs.c.state.in_(_NOT_FINAL), tasks.c.env_id.in_(bindparam("env_ids", expanding=True)))
)


def active_in_envs(conn: Connection, env_ids: Sequence[str]) -> list[str]:
    """Ids of the unfinished jobs with a task in one of these environments."""
    if not env_ids:
        return []
    return [row[0] for row in conn.execute(_active_in_envs, {"env_ids": list(env_ids)}).all()]


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


# Jobs of one task are counted from the (job, state) index alone, without reading instance rows.
_counts_by_job = (
    select(instances.c.job_pk, instances.c.state, func.count())
    .where(instances.c.job_pk.in_(bindparam("job_pks", expanding=True)))
    .group_by(instances.c.job_pk, instances.c.state)
)
_counts_by_task = (
    select(instances.c.task_pk, instances.c.state, func.count())
    .where(instances.c.job_pk.in_(bindparam("job_pks", expanding=True)))
    .group_by(instances.c.task_pk, instances.c.state)
)


def state_counts_of_jobs(
    conn: Connection, tasks_by_job: Mapping[int, Sequence[Task]]
) -> dict[int, dict[InstanceState, int]]:
    """How many instances of each task of these jobs are in each state, by task key."""
    counts: dict[int, dict[InstanceState, int]] = {
        task.pk: {} for job_tasks in tasks_by_job.values() for task in job_tasks
    }
    single = {pk: job_tasks[0].pk for pk, job_tasks in tasks_by_job.items() if len(job_tasks) == 1}
    several = [pk for pk, job_tasks in tasks_by_job.items() if len(job_tasks) > 1]
    if single:
        for job_pk, state, n in conn.execute(_counts_by_job, {"job_pks": list(single)}).all():
            counts[single[job_pk]][InstanceState(state)] = int(n)
    if several:
        for task_pk, state, n in conn.execute(_counts_by_task, {"job_pks": several}).all():
            counts[task_pk][InstanceState(state)] = int(n)
    return counts


_requests_of_jobs = select(instances.c.job_pk, instances.c.task_pk, instances.c.idx).where(
    instances.c.job_pk.in_(bindparam("job_pks", expanding=True)),
    instances.c.state.in_(_NOT_FINAL),
    instances.c.terminate_requested.is_(True),
)


def termination_requests_of(
    conn: Connection, job_pks: Sequence[int]
) -> dict[int, set[tuple[int, int]]]:
    """(task key, index) of the unfinished instances of each job whose termination was asked."""
    found: dict[int, set[tuple[int, int]]] = {pk: set() for pk in job_pks}
    if job_pks:
        for job_pk, task_pk, index in conn.execute(
            _requests_of_jobs, {"job_pks": list(job_pks)}
        ).all():
            found[job_pk].add((task_pk, index))
    return found


# What `_to_instance` reads: not the output tails.
_INSTANCE_COLUMNS = [
    instances.c[name]
    for name in (
        "idx",
        "state",
        "attempt",
        "exit_code",
        "reason",
        "detail",
        "node_id",
        "env_id",
        "create_ms",
        "launch_ms",
        "running_ms",
        "end_ms",
    )
]


@functools.cache
def _instances_query(indexes: bool, not_reason: bool, limit: bool) -> Select[Any]:
    query = select(*_INSTANCE_COLUMNS).where(
        instances.c.task_pk == bindparam("task_pk"),
        instances.c.state.in_(bindparam("states", expanding=True)),
    )
    if indexes:
        query = query.where(instances.c.idx.in_(bindparam("indexes", expanding=True)))
    if not_reason:
        query = query.where(instances.c.reason != bindparam("not_reason"))
    query = query.order_by(instances.c.idx)
    if limit:
        query = query.limit(bindparam("limit", type_=Integer))
    return query


def instances_where(
    conn: Connection,
    task_pk: int,
    states: Sequence[InstanceState],
    *,
    indexes: Sequence[int] | None = None,
    not_reason: str | None = None,
    limit: int | None = None,
) -> list[Instance]:
    """The task's instances in these states, by index: only those at `indexes`, only those
    whose reason is not `not_reason`, at most `limit` of them."""
    if indexes is not None and not indexes:
        return []
    params: dict[str, Any] = {"task_pk": task_pk, "states": [s.value for s in states]}
    if indexes is not None:
        params["indexes"] = list(indexes)
    if not_reason is not None:
        params["not_reason"] = not_reason
    if limit is not None:
        params["limit"] = limit
    query = _instances_query(indexes is not None, not_reason is not None, limit is not None)
    return [_to_instance(row) for row in conn.execute(query, params).all()]


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


_save_instance_and_tails = _save_instance.values(
    stdout_tail=bindparam("b_out"), stderr_tail=bindparam("b_err")
)


def _instance_params(task_pk: int, i: Instance) -> dict[str, Any]:
    return {
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


def save_instances(
    conn: Connection,
    task_pk: int,
    changed: Sequence[Instance],
    tails: Mapping[int, tuple[bytes, bytes]] | None = None,
) -> None:
    """Save these instances of a task; `tails` (by index: stdout, stderr) saves the output
    tails of some of them in the same statement."""
    tails = tails or {}
    plain = [_instance_params(task_pk, i) for i in changed if i.index not in tails]
    with_tails = [
        {**_instance_params(task_pk, i), "b_out": tails[i.index][0], "b_err": tails[i.index][1]}
        for i in changed
        if i.index in tails
    ]
    if plain:
        conn.execute(_save_instance, plain)
    if with_tails:
        conn.execute(_save_instance_and_tails, with_tails)
    saved = {i.index for i in changed}
    save_many_tails(
        conn, task_pk, [(i, out, err) for i, (out, err) in tails.items() if i not in saved]
    )


_save_tails = (
    update(instances)
    .where(instances.c.task_pk == bindparam("b_task"), instances.c.idx == bindparam("b_idx"))
    .values(stdout_tail=bindparam("b_out"), stderr_tail=bindparam("b_err"))
)


def save_many_tails(
    conn: Connection, task_pk: int, tails: Sequence[tuple[int, bytes, bytes]]
) -> None:
    """The output tails of several instances of a task: (index, stdout, stderr) each."""
    if tails:
        conn.execute(
            _save_tails,
            [{"b_task": task_pk, "b_idx": i, "b_out": out, "b_err": err} for i, out, err in tails],
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


_same_token = (
    client_tokens.c.account == bindparam("account"),
    client_tokens.c.region == bindparam("region"),
    client_tokens.c.kind == bindparam("kind"),
    client_tokens.c.token == bindparam("token"),
)
_token_owner = select(client_tokens.c.resource_id).where(
    *_same_token, client_tokens.c.created_ms >= bindparam("since_ms")
)
_forget_token = delete(client_tokens).where(*_same_token)
_insert_token = insert(client_tokens)


def token_owner(conn: Connection, scope: Scope, kind: str, token: str, since_ms: int) -> str | None:
    value = conn.execute(
        _token_owner,
        {
            "account": scope.account,
            "region": scope.region,
            "kind": kind,
            "token": token,
            "since_ms": since_ms,
        },
    ).scalar_one_or_none()
    return str(value) if value is not None else None


def remember_token(
    conn: Connection, scope: Scope, kind: str, token: str, resource_id: str, now_ms: int
) -> None:
    key = {"account": scope.account, "region": scope.region, "kind": kind, "token": token}
    conn.execute(_forget_token, key)
    conn.execute(_insert_token, {**key, "resource_id": resource_id, "created_ms": now_ms})


def request_termination(conn: Connection, task_pk: int, index: int) -> None:
    conn.execute(
        update(instances)
        .where(instances.c.task_pk == task_pk, instances.c.idx == index)
        .values(terminate_requested=True)
    )


_clear_termination = (
    update(instances)
    .where(instances.c.task_pk == bindparam("b_task"), instances.c.idx == bindparam("b_idx"))
    .values(terminate_requested=False)
)


def clear_termination(conn: Connection, task_pk: int, index: int) -> None:
    conn.execute(_clear_termination, {"b_task": task_pk, "b_idx": index})


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
