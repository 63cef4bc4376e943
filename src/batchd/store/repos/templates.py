"""Queries over task templates (stored Task objects a client can copy into SubmitJob)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from batchd.domain.scope import Scope
from batchd.store.repos import paging
from batchd.store.tables_batch import task_templates


def insert_template(
    conn: Connection,
    scope: Scope,
    template_id: str,
    name: str,
    description: str,
    info: dict[str, Any],
    tags: list[Any],
    now_ms: int,
) -> None:
    conn.execute(
        insert(task_templates).values(
            template_id=template_id,
            account=scope.account,
            region=scope.region,
            name=name,
            description=description,
            info=json.dumps(info),
            tags=json.dumps(tags),
            created_ms=now_ms,
        )
    )


def _owned(scope: Scope) -> list[Any]:
    return [task_templates.c.account == scope.account, task_templates.c.region == scope.region]


def existing(conn: Connection, scope: Scope, template_ids: Sequence[str]) -> set[str]:
    rows = conn.execute(
        select(task_templates.c.template_id).where(
            *_owned(scope), task_templates.c.template_id.in_(list(template_ids))
        )
    ).all()
    return {row[0] for row in rows}


def modify(conn: Connection, scope: Scope, template_id: str, values: dict[str, Any]) -> None:
    conn.execute(
        update(task_templates)
        .where(*_owned(scope), task_templates.c.template_id == template_id)
        .values(**values)
    )


def remove(conn: Connection, scope: Scope, template_ids: Sequence[str]) -> None:
    conn.execute(
        delete(task_templates).where(
            *_owned(scope), task_templates.c.template_id.in_(list(template_ids))
        )
    )


def search(
    conn: Connection,
    scope: Scope,
    template_ids: Sequence[str] | None,
    filters: Sequence[tuple[str, list[str]]],
    offset: int,
    limit: int,
) -> tuple[int, list[Any]]:
    where = _owned(scope)
    if template_ids is not None:
        where.append(task_templates.c.template_id.in_(list(template_ids)))
    columns = {"task-template-name": task_templates.c.name}
    order = (task_templates.c.created_ms.desc(), task_templates.c.template_id)
    return paging.page(conn, task_templates, where, columns, filters, order, offset, limit)
