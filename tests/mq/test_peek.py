"""Peeking at a queue (the console's view) reads its messages and changes nothing about them."""

from __future__ import annotations

import pytest

from batchd.domain import errors
from batchd.domain.scope import Scope
from batchd.mq.service import MessageService
from tests.mq.conftest import FakeClock

SCOPE = Scope("1250000001", "ap-guangzhou")
OTHER = Scope("1250000002", "ap-guangzhou")


async def test_peek_lists_messages_oldest_first_with_paging(service: MessageService) -> None:
    await service.queues.create(SCOPE, "q", {})
    ids = await service.queues.send(SCOPE, "q", ["a", "b", "c"], 0)

    peeked = await service.queues.peek(SCOPE, "q", 10)
    assert [m.msg_id for m in peeked] == ids
    assert [m.body for m in peeked] == [b"a", b"b", b"c"]
    assert [m.dequeue_count for m in peeked] == [0, 0, 0]
    assert [m.msg_id for m in await service.queues.peek(SCOPE, "q", 1, offset=1)] == ids[1:2]


async def test_peek_does_not_receive(service: MessageService, clock: FakeClock) -> None:
    await service.queues.create(SCOPE, "q", {"visibility_timeout": 30})
    (msg_id,) = await service.queues.send(SCOPE, "q", ["body"], 0)
    before = (await service.queues.get(SCOPE, "q"))[1]

    for _ in range(3):
        await service.queues.peek(SCOPE, "q", 10)

    assert (await service.queues.get(SCOPE, "q"))[1] == before
    (received,) = await service.queues.receive(SCOPE, "q", 1, 0)
    assert (received.msg_id, received.dequeue_count) == (msg_id, 1)


async def test_peek_shows_a_received_message_hidden_and_keeps_its_handle(
    service: MessageService, clock: FakeClock
) -> None:
    await service.queues.create(SCOPE, "q", {"visibility_timeout": 30})
    await service.queues.send(SCOPE, "q", ["body"], 0)
    (received,) = await service.queues.receive(SCOPE, "q", 1, 0)

    (peeked,) = await service.queues.peek(SCOPE, "q", 10)
    assert peeked.dequeue_count == 1
    assert peeked.visible_ms == received.next_visible_ms
    assert await service.queues.receive(SCOPE, "q", 1, 0) == []
    assert await service.queues.delete_messages(SCOPE, "q", [received.receipt_handle]) == []
    assert await service.queues.peek(SCOPE, "q", 10) == []


async def test_peek_is_scoped_to_the_account(service: MessageService) -> None:
    await service.queues.create(SCOPE, "q", {})
    await service.queues.send(SCOPE, "q", ["mine"], 0)

    with pytest.raises(errors.QueueNotFound):
        await service.queues.peek(OTHER, "q", 10)
