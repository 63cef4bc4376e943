"""Queries over compute environments, their nodes and activities."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, false, func, insert, select, update

from batchd.domain.job import RESOURCE_TYPE, Env
from batchd.domain.node import Node
from batchd.domain.scope import Scope
from batchd.domain.states import NodeState
from batchd.store.prepared import Prepared
from batchd.store.repos import paging
from batchd.store.tables_batch import activities, envs, nodes
from batchd.store.tables_batch import jobs as jobs_table
from batchd.store.tables_batch import tasks as tasks_table


def _to_env(row: Any) -> Env:
    return Env(
        pk=row.pk,
        env_id=row.env_id,
        account=row.account,
        region=row.region,
        name=row.name,
        description=row.description,
        env_type=row.env_type,
        zone=row.zone,
        desired=row.desired,
        cpu=row.cpu,
        mem_gib=row.mem_gib,
        deleting=bool(row.deleting),
        anonymous_job_id=row.anonymous_job_id,
        anonymous_task=row.anonymous_task,
        sequence=row.sequence,
        created_ms=row.created_ms,
        resource_max_retry=row.resource_max_retry,
        creation_failures=row.creation_failures,
        if_creation_failed=row.if_creation_failed,
    )


def _to_node(row: Any, env_id: str) -> Node:
    return Node(
        node_id=row.node_id,
        instance_id=row.instance_id,
        env_id=env_id,
        state=NodeState(row.state),
        cpu=row.cpu,
        mem_gib=row.mem_gib,
        address=row.address,
        reason=row.reason,
        created_ms=row.created_ms,
        origin=row.origin,
        start_after_ms=row.start_after_ms,
    )


def insert_env(
    conn: Connection,
    scope: Scope,
    env: Env,
    create_info: dict[str, Any],
    notifications: list[Any],
    tags: list[Any],
    resource_max_retry: int,
    anonymous_task: str | None = None,
) -> Env:
    result = conn.execute(
        insert(envs).values(
            env_id=env.env_id,
            account=scope.account,
            region=scope.region,
            name=env.name,
            description=env.description,
            env_type=env.env_type,
            zone=env.zone,
            desired=env.desired,
            cpu=env.cpu,
            mem_gib=env.mem_gib,
            anonymous_job_id=env.anonymous_job_id,
            anonymous_task=anonymous_task or env.anonymous_task,
            deleting=False,
            create_info=json.dumps(create_info),
            notifications=json.dumps(notifications),
            tags=json.dumps(tags),
            resource_max_retry=resource_max_retry,
            creation_failures=0,
            if_creation_failed=env.if_creation_failed,
            sequence=0,
            created_ms=env.created_ms,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    task = anonymous_task or env.anonymous_task
    return Env(
        **{
            **_fields(env),
            "pk": int(key[0]),
            "anonymous_task": task,
            "resource_max_retry": resource_max_retry,
            "creation_failures": 0,
        }
    )


def _fields(env: Env) -> dict[str, Any]:
    return {name: getattr(env, name) for name in Env.__dataclass_fields__}


# Built once: SubmitJob looks its environment up on every call.
_by_id = select(envs).where(envs.c.env_id == bindparam("env_id"))
_find = Prepared(
    _by_id.where(envs.c.account == bindparam("account"), envs.c.region == bindparam("region"))
)


def find(conn: Connection, scope: Scope, env_id: str) -> Env | None:
    params = {"env_id": env_id, "account": scope.account, "region": scope.region}
    row = _find.first(conn, params)
    return _to_env(row) if row is not None else None


def by_id(conn: Connection, env_id: str) -> Env | None:
    row = conn.execute(_by_id, {"env_id": env_id}).first()
    return _to_env(row) if row is not None else None


_input_mappings = select(envs.c.create_info).where(envs.c.env_id == bindparam("env_id"))


def input_mappings(conn: Connection, env_id: str) -> tuple[tuple[str, str], ...]:
    """(SourcePath, DestinationPath) of the InputMappings the environment was created with."""
    info = conn.execute(_input_mappings, {"env_id": env_id}).scalar()
    mappings = (json.loads(info).get("InputMappings") or []) if info else []
    return tuple((m["SourcePath"], m["DestinationPath"]) for m in mappings)


def row_of(conn: Connection, env_id: str) -> Any:
    return conn.execute(select(envs).where(envs.c.env_id == env_id)).first()


def all_envs(conn: Connection) -> list[Env]:
    return [_to_env(row) for row in conn.execute(select(envs).order_by(envs.c.pk)).all()]


def search(
    conn: Connection,
    scope: Scope,
    env_ids: Sequence[str] | None,
    filters: Sequence[tuple[str, list[str]]],
    offset: int,
    limit: int,
) -> tuple[int, list[Any]]:
    where: list[Any] = [
        envs.c.account == scope.account,
        envs.c.region == scope.region,
        envs.c.anonymous_job_id.is_(None),
    ]
    if env_ids is not None:
        where.append(envs.c.env_id.in_(list(env_ids)))
    for name, values in filters:
        if name == "resource-type" and RESOURCE_TYPE not in values:
            where.append(false())  # every environment is of the one type
    columns = {"zone": envs.c.zone, "env-id": envs.c.env_id, "env-name": envs.c.name}
    order = (envs.c.created_ms.desc(), envs.c.env_id)
    return paging.page(conn, envs, where, columns, filters, order, offset, limit)


def update_env(conn: Connection, env: Env, **values: Any) -> None:
    conn.execute(update(envs).where(envs.c.pk == env.pk).values(**values))


def next_sequence(conn: Connection, table_pk: int, *, node: bool = False) -> int:
    """Advance and return the event sequence of an env (or of a node)."""
    table = nodes if node else envs
    conn.execute(update(table).where(table.c.pk == table_pk).values(sequence=table.c.sequence + 1))
    return int(conn.execute(select(table.c.sequence).where(table.c.pk == table_pk)).scalar_one())


def count_creation_failure(conn: Connection, env: Env) -> int:
    """Count one more failed node creation of the env; answers how many have failed."""
    conn.execute(
        update(envs)
        .where(envs.c.pk == env.pk)
        .values(creation_failures=envs.c.creation_failures + 1)
    )
    value = conn.execute(select(envs.c.creation_failures).where(envs.c.pk == env.pk)).scalar_one()
    return int(value)


def delete_env(conn: Connection, env: Env) -> None:
    conn.execute(delete(envs).where(envs.c.pk == env.pk))


# --- nodes -----------------------------------------------------------------------------------


def insert_node(conn: Connection, env: Env, node: Node, now_ms: int) -> None:
    conn.execute(
        insert(nodes).values(
            node_id=node.node_id,
            env_pk=env.pk,
            instance_id=node.instance_id,
            state=node.state.value,
            cpu=node.cpu,
            mem_gib=node.mem_gib,
            address=node.address,
            reason=node.reason,
            origin=node.origin,
            requested_ms=now_ms,
            created_ms=node.created_ms,
            sequence=0,
            start_after_ms=node.start_after_ms,
        )
    )


def node_counts(conn: Connection) -> dict[int, dict[NodeState, int]]:
    """How many nodes of each environment (by key) are in each state."""
    counts: dict[int, dict[NodeState, int]] = {}
    rows = conn.execute(
        select(nodes.c.env_pk, nodes.c.state, func.count()).group_by(nodes.c.env_pk, nodes.c.state)
    ).all()
    for env_pk, state, n in rows:
        counts.setdefault(env_pk, {})[NodeState(state)] = int(n)
    return counts


def nodes_of(conn: Connection, env: Env) -> list[Node]:
    rows = conn.execute(select(nodes).where(nodes.c.env_pk == env.pk).order_by(nodes.c.pk)).all()
    return [_to_node(row, env.env_id) for row in rows]


def node_pk(conn: Connection, node_id: str) -> int | None:
    value = conn.execute(select(nodes.c.pk).where(nodes.c.node_id == node_id)).scalar_one_or_none()
    return int(value) if value is not None else None


def save_node(conn: Connection, node: Node) -> None:
    conn.execute(
        update(nodes)
        .where(nodes.c.node_id == node.node_id)
        .values(
            state=node.state.value,
            address=node.address,
            reason=node.reason,
            created_ms=node.created_ms,
        )
    )


def delete_node(conn: Connection, node_id: str) -> None:
    conn.execute(delete(nodes).where(nodes.c.node_id == node_id))


def instance_ids(conn: Connection, node_ids: Sequence[str]) -> dict[str, str]:
    if not node_ids:
        return {}
    rows = conn.execute(
        select(nodes.c.node_id, nodes.c.instance_id).where(nodes.c.node_id.in_(list(node_ids)))
    ).all()
    return {row[0]: row[1] for row in rows}


# --- activities ------------------------------------------------------------------------------


def add_activity(
    conn: Connection, env: Env, activity_id: str, node: Node, kind: str, cause: str, now_ms: int
) -> None:
    conn.execute(
        insert(activities).values(
            activity_id=activity_id,
            env_pk=env.pk,
            node_id=node.node_id,
            instance_id=node.instance_id,
            kind=kind,
            cause=cause,
            state="PROCESSING",
            reason="",
            start_ms=now_ms,
            end_ms=None,
        )
    )


def finish_activity(
    conn: Connection, node_id: str, kind: str, state: str, reason: str, now_ms: int
) -> None:
    conn.execute(
        update(activities)
        .where(
            activities.c.node_id == node_id,
            activities.c.kind == kind,
            activities.c.end_ms.is_(None),
        )
        .values(state=state, reason=reason, end_ms=now_ms)
    )


def activities_of(
    conn: Connection, env: Env, node_ids: Sequence[str] | None, offset: int, limit: int
) -> tuple[int, list[Any]]:
    """A page of the env's activities, of the nodes `node_ids` only when given."""
    where = [activities.c.env_pk == env.pk]
    if node_ids is not None:
        where.append(activities.c.node_id.in_(list(node_ids)))
    total = conn.execute(select(func.count()).select_from(activities).where(*where)).scalar_one()
    rows = conn.execute(
        select(activities).where(*where).order_by(activities.c.pk).offset(offset).limit(limit)
    ).all()
    return int(total), list(rows)


def retire_finished_anonymous(conn: Connection, job_ids: Sequence[str] | None = None) -> int:
    """Mark deleting the anonymous environments whose task has ended (SUCCEED or FAILED;
    a FAILED_INTERRUPTED task keeps its nodes for inspection); only those of `job_ids` when
    given."""
    if job_ids is not None and not job_ids:
        return 0
    ended = (
        select(tasks_table.c.pk)
        .join(jobs_table, jobs_table.c.pk == tasks_table.c.job_pk)
        .where(
            jobs_table.c.job_id == envs.c.anonymous_job_id,
            tasks_table.c.name == envs.c.anonymous_task,
            tasks_table.c.state.in_(["SUCCEED", "FAILED"]),
        )
    )
    mine = (
        envs.c.anonymous_job_id.is_not(None)
        if job_ids is None
        else envs.c.anonymous_job_id.in_(list(job_ids))
    )
    result = conn.execute(
        update(envs).where(mine, envs.c.deleting.is_(False), ended.exists()).values(deleting=True)
    )
    return int(result.rowcount)
