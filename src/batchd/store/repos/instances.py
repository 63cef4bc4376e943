"""Queries over task instances: states and counts, saves with output tails, termination
requests, and those in flight."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Integer, Select, bindparam, func, or_, select, update

from batchd.domain.instance import Instance
from batchd.domain.job import Task
from batchd.domain.states import FINAL, InstanceState
from batchd.store.tables_batch import instances, tasks


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


# The states not yet SUCCEED or FAILED, as stored (tasks and jobs use the same names).
NOT_FINAL: list[str] = [s.value for s in InstanceState if s not in FINAL]


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
    instances.c.state.in_(NOT_FINAL),
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


def busy_on_env(
    conn: Connection, env_id: str, since_ms: int, limit: int
) -> list[tuple[str, int, int | None]]:
    """(node id, launch, end or None while running) of the instances launched on an
    environment's nodes that were still running at `since_ms` or started after, newest first."""
    rows = conn.execute(
        select(instances.c.node_id, instances.c.launch_ms, instances.c.end_ms)
        .where(
            instances.c.env_id == env_id,
            instances.c.launch_ms.is_not(None),
            instances.c.node_id != "",
            or_(instances.c.end_ms.is_(None), instances.c.end_ms >= since_ms),
        )
        .order_by(instances.c.launch_ms.desc())
        .limit(limit)
    ).all()
    return [(row[0], int(row[1]), None if row[2] is None else int(row[2])) for row in rows]


def has_unsettled_in_env(conn: Connection, env_id: str) -> bool:
    """Whether any instance placed in (or bound for) this environment is not settled."""
    found = conn.execute(
        select(instances.c.pk)
        .join(tasks, tasks.c.pk == instances.c.task_pk)
        .where(tasks.c.env_id == env_id, instances.c.state.in_(NOT_FINAL))
        .limit(1)
    ).first()
    return found is not None
