"""One page of a Describe* listing: column filters in SQL, tag filters on the stored tags."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Table, func, select

from batchd.domain import tags


def page(
    conn: Connection,
    table: Table,
    where: list[Any],
    columns: Mapping[str, Column[Any]],
    filters: Sequence[tuple[str, list[str]]],
    order_by: Sequence[Any],
    offset: int,
    limit: int,
) -> tuple[int, list[Any]]:
    """(total matches, rows of the page). Filters are AND-ed; unknown names were refused earlier."""
    conditions = list(where)
    tag_filters = []
    for name, values in filters:
        if name in columns:
            conditions.append(columns[name].in_(values))
        elif tags.is_tag_filter(name):
            tag_filters.append((name, values))
    query = select(table).where(*conditions).order_by(*order_by)
    if not tag_filters:
        total = conn.execute(select(func.count()).select_from(table).where(*conditions))
        rows = conn.execute(query.offset(offset).limit(limit)).all()
        return int(total.scalar_one()), list(rows)
    # Tags are stored as JSON text: filter them here (listings are per account and region).
    matching = [
        row
        for row in conn.execute(query).all()
        if all(tags.matches(json.loads(row.tags), name, values) for name, values in tag_filters)
    ]
    return len(matching), matching[offset : offset + limit]
