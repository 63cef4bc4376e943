"""Queries over the messages a queue stores: send, receive with receipt handles (moving dead
letters aside), delete by handle, counters, rewind, expiry and peek."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, delete, func, insert, select, update

from batchd.domain import ids
from batchd.domain.ids import MessageId
from batchd.domain.message import PeekedMessage, Queue, QueueCounters, ReceivedMessage
from batchd.domain.queue import DeadLetter, DeadLetterPolicy
from batchd.domain.scope import Scope
from batchd.store.prepared import Prepared
from batchd.store.repos import queues as queue_repo
from batchd.store.tables import messages

_insert_message = Prepared(insert(messages))


def insert_messages(
    conn: Connection, queue: Queue, bodies: Sequence[bytes], now_ms: int, delay_ms: int
) -> list[MessageId]:
    """Store messages whose room was already reserved (see `queues.reserve`)."""
    msg_ids = [ids.new_message_id() for _ in bodies]
    _insert_message.run(
        conn,
        [
            {
                "queue_pk": queue.pk,
                "msg_id": msg_id,
                "body": body,
                "enqueue_ms": now_ms,
                "visible_ms": now_ms + delay_ms,
                "dequeue_count": 0,
                "first_dequeue_ms": 0,
                "receipt_token": None,
                "deleted_ms": None,
            }
            for msg_id, body in zip(msg_ids, bodies, strict=True)
        ],
    )
    return msg_ids


def _retention_cutoff(queue: Queue, now_ms: int) -> int:
    return now_ms - queue.attributes.msg_retention_seconds * 1000


_visible = Prepared(
    select(
        messages.c.pk,
        messages.c.msg_id,
        messages.c.body,
        messages.c.enqueue_ms,
        messages.c.dequeue_count,
        messages.c.first_dequeue_ms,
    )
    .where(
        messages.c.queue_pk == bindparam("b_queue"),
        messages.c.deleted_ms.is_(None),
        messages.c.visible_ms <= bindparam("b_now"),
        messages.c.enqueue_ms > bindparam("b_cutoff"),
    )
    .order_by(messages.c.enqueue_ms, messages.c.pk)  # oldest enqueueTime first (§2.1)
    .limit(bindparam("b_limit"))
)


def _visible_rows(conn: Connection, queue: Queue, now_ms: int, limit: int) -> list[Any]:
    params = {
        "b_queue": queue.pk,
        "b_now": now_ms,
        "b_cutoff": _retention_cutoff(queue, now_ms),
        "b_limit": limit,
    }
    return _visible.rows(conn, params)


def _is_dead(row: Any, dead_letter: DeadLetter, now_ms: int) -> bool:
    if dead_letter.policy is DeadLetterPolicy.BY_RECEIVE_COUNT:
        return bool(row.dequeue_count >= dead_letter.max_receive_count)
    return bool(row.enqueue_ms + dead_letter.max_time_to_live * 1000 <= now_ms)


_receive_update = Prepared(
    update(messages)
    .where(messages.c.pk == bindparam("b_pk"))
    .values(
        visible_ms=bindparam("b_visible"),
        dequeue_count=messages.c.dequeue_count + 1,
        first_dequeue_ms=bindparam("b_first"),
        receipt_token=bindparam("b_token"),
    )
)


def receive(
    conn: Connection,
    scope: Scope,
    queue: Queue,
    count: int,
    now_ms: int,
    on_dead_letter: Callable[[Queue], None] | None = None,
) -> list[ReceivedMessage]:
    """Take up to `count` visible messages, hiding each for the visibility timeout.

    Messages past their dead-letter policy move to the dead-letter queue instead, and
    `on_dead_letter` is called with that queue.
    """
    dead_letter = queue.attributes.dead_letter
    dead_queue = queue_repo.find(conn, scope, dead_letter.queue_name) if dead_letter else None
    picked: list[Any] = []
    while len(picked) < count:
        rows = _visible_rows(conn, queue, now_ms, count - len(picked))
        if not rows:
            break
        moving = []
        for row in rows:
            if dead_letter and dead_queue and _is_dead(row, dead_letter, now_ms):
                moving.append(row)
            else:
                picked.append(row)
        if not moving:
            break
        _move_to_dead_letter(conn, queue, dead_queue, moving, now_ms)  # type: ignore[arg-type]
        if on_dead_letter is not None:
            on_dead_letter(dead_queue)  # type: ignore[arg-type]
    if not picked:
        return []
    next_visible = now_ms + queue.attributes.visibility_timeout * 1000
    received = []
    params = []
    for row in picked:
        token = ids.new_receipt_token()
        first = row.first_dequeue_ms or now_ms
        params.append(
            {"b_pk": row.pk, "b_visible": next_visible, "b_first": first, "b_token": token}
        )
        received.append(
            ReceivedMessage(
                msg_id=MessageId(row.msg_id),
                body=row.body,
                receipt_handle=f"{row.pk}-{token}",
                enqueue_ms=row.enqueue_ms,
                first_dequeue_ms=first,
                next_visible_ms=next_visible,
                dequeue_count=row.dequeue_count + 1,
            )
        )
    _receive_update.run(conn, params)
    return received


def _move_to_dead_letter(
    conn: Connection, source: Queue, target: Queue, rows: list[Any], now_ms: int
) -> None:
    conn.execute(
        insert(messages),
        [
            {
                "queue_pk": target.pk,
                "msg_id": row.msg_id,
                "body": row.body,
                "enqueue_ms": now_ms,
                "visible_ms": now_ms,
                "dequeue_count": 0,
                "first_dequeue_ms": 0,
                "receipt_token": None,
                "deleted_ms": None,
            }
            for row in rows
        ],
    )
    conn.execute(delete(messages).where(messages.c.pk.in_([row.pk for row in rows])))
    queue_repo.adjust_count(conn, source.pk, -len(rows))
    queue_repo.adjust_count(conn, target.pk, len(rows))


def parse_handle(handle: str) -> tuple[int, str] | None:
    pk_text, _, token = handle.partition("-")
    # ASCII digits only ("²".isdigit() is true), and small enough for a BIGINT column.
    if not (pk_text.isascii() and pk_text.isdigit() and len(pk_text) <= 18) or not token:
        return None
    return int(pk_text), token


@functools.lru_cache(maxsize=32)
def _by_handles(count: int) -> tuple[Prepared, Prepared, Prepared]:
    """For `count` messages named by handles (b_pk0…): their current receipt tokens, their
    deletion, and their deletion kept for rewind. A statement per count, as a driver's
    statement takes a fixed number of parameters (a batch names at most 16)."""
    pks: list[Any] = [bindparam(f"b_pk{i}") for i in range(count)]
    current = select(messages.c.pk, messages.c.receipt_token).where(
        messages.c.pk.in_(pks),
        messages.c.queue_pk == bindparam("b_queue"),
        messages.c.deleted_ms.is_(None),
        messages.c.visible_ms > bindparam("b_now"),
    )
    removal = delete(messages).where(messages.c.pk.in_(pks))
    kept = (
        update(messages)
        .where(messages.c.pk.in_(pks))
        .values(deleted_ms=bindparam("b_now"), receipt_token=None)
    )
    return Prepared(current), Prepared(removal), Prepared(kept)


def _numbered(pks: Collection[int]) -> dict[str, int]:
    return {f"b_pk{i}": pk for i, pk in enumerate(pks)}


def delete_messages(
    conn: Connection, queue: Queue, handles: Sequence[str], now_ms: int
) -> list[str]:
    """Delete the messages these handles were issued for; returns the handles that were not
    current (unknown, superseded by a later receive, or past their visibility timeout)."""
    wanted: dict[int, str] = {}
    for handle in handles:
        parsed = parse_handle(handle)
        if parsed is not None:
            wanted.setdefault(parsed[0], parsed[1])
    valid: set[int] = set()
    if wanted:
        current, _, _ = _by_handles(len(wanted))
        rows = current.rows(conn, {**_numbered(wanted), "b_queue": queue.pk, "b_now": now_ms})
        valid = {row.pk for row in rows if row.receipt_token == wanted[row.pk]}
    if valid:
        _, removal, kept = _by_handles(len(valid))
        if queue.attributes.rewind_seconds > 0:
            kept.run(conn, {**_numbered(valid), "b_now": now_ms})
        else:
            removal.run(conn, _numbered(valid))
        queue_repo.adjust_count(conn, queue.pk, -len(valid))
    done: set[int] = set()
    failed = []
    for handle in handles:
        parsed = parse_handle(handle)
        if parsed is None or parsed[0] not in valid or parsed[0] in done:
            failed.append(handle)
        else:
            done.add(parsed[0])
    return failed


def counters(conn: Connection, queue: Queue, now_ms: int) -> QueueCounters:
    live = messages.c.deleted_ms.is_(None)
    hidden = messages.c.visible_ms > now_ms
    rewindable = and_(
        messages.c.deleted_ms.is_not(None),
        messages.c.enqueue_ms + queue.attributes.rewind_seconds * 1000 > now_ms,
    )
    row = conn.execute(
        select(
            func.coalesce(func.sum(case((and_(live, ~hidden), 1), else_=0)), 0),
            func.coalesce(
                func.sum(case((and_(live, hidden, messages.c.dequeue_count > 0), 1), else_=0)), 0
            ),
            func.coalesce(
                func.sum(case((and_(live, hidden, messages.c.dequeue_count == 0), 1), else_=0)), 0
            ),
            func.coalesce(func.sum(case((rewindable, 1), else_=0)), 0),
            func.coalesce(func.min(case((live, messages.c.enqueue_ms), else_=None)), 0),
        ).where(
            messages.c.queue_pk == queue.pk,
            messages.c.enqueue_ms > _retention_cutoff(queue, now_ms),
        )
    ).one()
    return QueueCounters(
        active=int(row[0]),
        inactive=int(row[1]),
        delayed=int(row[2]),
        rewindable=int(row[3]),
        oldest_enqueue_ms=int(row[4]),
    )


def next_visible_ms(conn: Connection, queue: Queue, now_ms: int) -> int | None:
    """When the next hidden (delayed or in-flight) message becomes visible, if any."""
    value = conn.execute(
        select(func.min(messages.c.visible_ms)).where(
            messages.c.queue_pk == queue.pk,
            messages.c.deleted_ms.is_(None),
            messages.c.visible_ms > now_ms,
        )
    ).scalar_one()
    return int(value) if value is not None else None


def rewind(conn: Connection, queue: Queue, start_ms: int, now_ms: int) -> int:
    """Make every kept message enqueued at or after `start_ms` visible again, in order."""
    result = conn.execute(
        update(messages)
        .where(
            messages.c.queue_pk == queue.pk,
            messages.c.enqueue_ms >= start_ms,
            messages.c.enqueue_ms > _retention_cutoff(queue, now_ms),
            messages.c.deleted_ms.is_(None)
            | (messages.c.enqueue_ms + queue.attributes.rewind_seconds * 1000 > now_ms),
        )
        .values(
            visible_ms=now_ms,
            receipt_token=None,
            deleted_ms=None,
        )
    )
    restored = int(result.rowcount)
    queue_repo.recount(conn, queue)
    return restored


def delete_all_messages(conn: Connection, queue: Queue) -> None:
    conn.execute(delete(messages).where(messages.c.queue_pk == queue.pk))
    queue_repo.recount(conn, queue)


def drop_rewindable(conn: Connection, queue: Queue) -> None:
    conn.execute(
        delete(messages).where(messages.c.queue_pk == queue.pk, messages.c.deleted_ms.is_not(None))
    )


def purge_expired(conn: Connection, queue: Queue, now_ms: int) -> int:
    """Drop messages past retention, and deleted ones past the rewind window."""
    rewind_ms = queue.attributes.rewind_seconds * 1000
    expired = conn.execute(
        delete(messages).where(
            messages.c.queue_pk == queue.pk,
            (messages.c.enqueue_ms <= _retention_cutoff(queue, now_ms))
            | (messages.c.deleted_ms.is_not(None) & (messages.c.enqueue_ms + rewind_ms <= now_ms)),
        )
    ).rowcount
    if expired:
        queue_repo.recount(conn, queue)
    return int(expired)


def peek(
    conn: Connection, queue: Queue, limit: int, now_ms: int, offset: int = 0
) -> list[PeekedMessage]:
    """Stored messages in the order they were sent, read only: visibility, receive counts and
    receipt handles stay as they are (the console shows a queue without consuming it)."""
    rows = conn.execute(
        select(
            messages.c.msg_id,
            messages.c.body,
            messages.c.enqueue_ms,
            messages.c.visible_ms,
            messages.c.dequeue_count,
        )
        .where(
            messages.c.queue_pk == queue.pk,
            messages.c.deleted_ms.is_(None),
            messages.c.enqueue_ms > _retention_cutoff(queue, now_ms),
        )
        .order_by(messages.c.pk)
        .offset(offset)
        .limit(limit)
    ).all()
    return [
        PeekedMessage(
            msg_id=MessageId(row.msg_id),
            body=row.body,
            enqueue_ms=row.enqueue_ms,
            visible_ms=row.visible_ms,
            dequeue_count=row.dequeue_count,
        )
        for row in rows
    ]
