"""Fixtures for the message service core: a started service on each database, a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from batchd.mq.context import Context
from batchd.mq.service import MessageService
from batchd.store import database, migrate


class FakeClock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def service(database_url: str, clock: FakeClock) -> AsyncIterator[MessageService]:
    writer, reader = database.create_engines(database_url)
    migrate.upgrade(writer)
    db = database.Database(writer, reader)
    db.start(asyncio.get_running_loop())
    svc = MessageService(Context(db=db, clock=clock), push_timeout=2.0)
    svc.start_leading()
    try:
        yield svc
    finally:
        await svc.stop_leading()
        db.stop()
