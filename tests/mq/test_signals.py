"""Wake-ups in proportion to the work: a fire for N visible messages wakes the first waiters
that take N, in the order they came; a woken waiter that goes away passes it on."""

from __future__ import annotations

import asyncio

from batchd.mq.signals import Signal


async def waiting(signal: Signal, count: int, takes: int = 1) -> list[asyncio.Task[None]]:
    tasks = []
    for _ in range(count):
        tasks.append(asyncio.create_task(signal.wait(signal.version, 30, takes)))
        await asyncio.sleep(0)  # registered in this order
    await asyncio.sleep(0)
    return tasks


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_fire_wakes_as_many_waiters_as_messages_first_come_first() -> None:
    signal = Signal()
    first, second, third = await waiting(signal, 3)

    signal.fire(1)
    await settle()
    assert [t.done() for t in (first, second, third)] == [True, False, False]

    signal.fire(2)
    await settle()
    assert [t.done() for t in (second, third)] == [True, True]


async def test_a_batch_receive_counts_for_what_it_asks_and_a_blind_fire_wakes_all() -> None:
    signal = Signal()
    (batch,) = await waiting(signal, 1, takes=16)
    singles = await waiting(signal, 3)

    signal.fire(5)
    await settle()
    assert batch.done()
    assert not any(t.done() for t in singles)

    signal.fire()
    await settle()
    assert all(t.done() for t in singles)


async def test_a_woken_waiter_that_goes_away_passes_the_wake_up_on() -> None:
    signal = Signal()
    gone, next_one, last = await waiting(signal, 3)

    signal.fire(1)
    gone.cancel()  # woken, then cancelled before it ran: its client went away
    await settle()

    assert gone.cancelled()
    assert next_one.done()
    assert not last.done()
    last.cancel()
