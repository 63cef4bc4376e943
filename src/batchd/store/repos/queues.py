"""Queries over queues: lookup, create, attributes, delete, listing, stored-message counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from batchd.domain import ids
from batchd.domain.ids import QueueId
from batchd.domain.message import Queue
from batchd.domain.queue import DeadLetter, DeadLetterPolicy, QueueAttributes
from batchd.domain.scope import Scope
from batchd.store.prepared import Prepared
from batchd.store.tables import messages, queues

_ATTRIBUTE_COLUMNS = (
    "max_msg_heap_num",
    "polling_wait_seconds",
    "visibility_timeout",
    "max_msg_size",
    "msg_retention_seconds",
    "rewind_seconds",
)


def _attribute_values(attributes: QueueAttributes) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(attributes, name) for name in _ATTRIBUTE_COLUMNS}
    dead_letter = attributes.dead_letter
    values["dead_letter_queue"] = dead_letter.queue_name if dead_letter else None
    values["dead_letter_policy"] = int(dead_letter.policy) if dead_letter else None
    values["max_receive_count"] = dead_letter.max_receive_count if dead_letter else 0
    values["max_time_to_live"] = dead_letter.max_time_to_live if dead_letter else 0
    return values


def _to_queue(row: Any) -> Queue:
    dead_letter = None
    if row.dead_letter_queue is not None:
        dead_letter = DeadLetter(
            queue_name=row.dead_letter_queue,
            policy=DeadLetterPolicy(row.dead_letter_policy),
            max_receive_count=row.max_receive_count,
            max_time_to_live=row.max_time_to_live,
        )
    attributes = QueueAttributes(
        **{name: getattr(row, name) for name in _ATTRIBUTE_COLUMNS}, dead_letter=dead_letter
    )
    return Queue(
        pk=row.pk,
        queue_id=QueueId(row.queue_id),
        name=row.name,
        attributes=attributes,
        created_ms=row.created_ms,
        modified_ms=row.modified_ms,
    )


# Every message action looks its queue up first.
_find = Prepared(
    select(queues).where(
        queues.c.account == bindparam("b_account"),
        queues.c.region == bindparam("b_region"),
        queues.c.name_key == bindparam("b_name"),
    )
)


def find(conn: Connection, scope: Scope, name: str) -> Queue | None:
    row = _find.first(
        conn, {"b_account": scope.account, "b_region": scope.region, "b_name": name.lower()}
    )
    return _to_queue(row) if row is not None else None


def count(conn: Connection, scope: Scope) -> int:
    return conn.execute(
        select(func.count())
        .select_from(queues)
        .where(queues.c.account == scope.account, queues.c.region == scope.region)
    ).scalar_one()


def insert_queue(
    conn: Connection, scope: Scope, name: str, attributes: QueueAttributes, now_ms: int
) -> Queue:
    queue_id = ids.new_queue_id()
    conn.execute(
        insert(queues).values(
            queue_id=queue_id,
            account=scope.account,
            region=scope.region,
            name=name,
            name_key=name.lower(),
            msg_num=0,
            created_ms=now_ms,
            modified_ms=now_ms,
            **_attribute_values(attributes),
        )
    )
    found = find(conn, scope, name)
    assert found is not None
    return found


def update_attributes(
    conn: Connection, queue: Queue, attributes: QueueAttributes, now_ms: int
) -> None:
    conn.execute(
        update(queues)
        .where(queues.c.pk == queue.pk)
        .values(modified_ms=now_ms, **_attribute_values(attributes))
    )


def delete_queue(conn: Connection, queue: Queue) -> None:
    conn.execute(delete(messages).where(messages.c.queue_pk == queue.pk))
    conn.execute(delete(queues).where(queues.c.pk == queue.pk))


def list_queues(
    conn: Connection, scope: Scope, search: str, offset: int, limit: int
) -> tuple[int, list[Queue]]:
    where = [queues.c.account == scope.account, queues.c.region == scope.region]
    if search:
        where.append(queues.c.name.contains(search, autoescape=True))
    total = conn.execute(select(func.count()).select_from(queues).where(*where)).scalar_one()
    rows = conn.execute(
        select(queues).where(*where).order_by(queues.c.pk).offset(offset).limit(limit)
    ).all()
    return total, [_to_queue(row) for row in rows]


def dead_letter_sources(conn: Connection, scope: Scope, name: str) -> list[Queue]:
    """The queues of `scope` whose dead letters go to the queue `name`."""
    rows = conn.execute(
        select(queues)
        .where(
            queues.c.account == scope.account,
            queues.c.region == scope.region,
            func.lower(queues.c.dead_letter_queue) == name.lower(),
        )
        .order_by(queues.c.pk)
    ).all()
    return [_to_queue(row) for row in rows]


def stored_count(conn: Connection, queue: Queue) -> int:
    return int(conn.execute(select(queues.c.msg_num).where(queues.c.pk == queue.pk)).scalar_one())


_adjust = Prepared(
    update(queues)
    .where(queues.c.pk == bindparam("b_pk"))
    .values(msg_num=queues.c.msg_num + bindparam("b_delta"))
)
_reserve = Prepared(
    update(queues)
    .where(
        queues.c.pk == bindparam("b_pk"),
        queues.c.msg_num + bindparam("b_delta") <= queues.c.max_msg_heap_num,
    )
    .values(msg_num=queues.c.msg_num + bindparam("b_delta"))
)


def adjust_count(conn: Connection, queue_pk: int, delta: int) -> None:
    if delta:
        _adjust.run(conn, {"b_pk": queue_pk, "b_delta": delta})


def reserve(conn: Connection, queue: Queue, count: int) -> bool:
    """Count `count` more stored messages if the queue has room for them (one statement)."""
    return _reserve.run(conn, {"b_pk": queue.pk, "b_delta": count}) == 1


def recount(conn: Connection, queue: Queue) -> None:
    live = (
        select(func.count())
        .select_from(messages)
        .where(messages.c.queue_pk == queue.pk, messages.c.deleted_ms.is_(None))
        .scalar_subquery()
    )
    conn.execute(update(queues).where(queues.c.pk == queue.pk).values(msg_num=live))


def all_queues(conn: Connection) -> list[Queue]:
    return [_to_queue(row) for row in conn.execute(select(queues)).all()]


def depths(conn: Connection) -> list[tuple[str, str, str, int]]:
    """(account, region, queue name, stored messages) for every queue."""
    rows = conn.execute(
        select(queues.c.account, queues.c.region, queues.c.name, queues.c.msg_num)
    ).all()
    return [(row[0], row[1], row[2], int(row[3])) for row in rows]
