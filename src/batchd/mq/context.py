"""What every message-service component shares: the database, the wake-ups, the clock, limits."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from batchd.mq.signals import Signals
from batchd.store.database import Database


@dataclass(frozen=True, slots=True)
class Limits:
    max_queues: int = 1000
    max_topics: int = 1000


@dataclass(slots=True)
class Context:
    db: Database
    signals: Signals = field(default_factory=Signals)
    clock: Callable[[], float] = time.time
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        self.signals.attach(self.db.hub)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)
