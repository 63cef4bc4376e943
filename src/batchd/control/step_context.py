"""What the parts of one job's step share: its unit of work, job, time and backend effects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from batchd.control.effects import Effects
from batchd.control.env_pass import EnvView
from batchd.domain.instance import Instance
from batchd.domain.job import Job
from batchd.domain.states import InstanceState
from batchd.store.database import Conn

# Records an instance's new version and its events in the step (a transition's result).
Apply = Callable[[tuple[Instance, list[str]]], Instance]


class Load(Protocol):
    """Reads more of the task's instances in these states into the step."""

    def __call__(
        self, states: list[InstanceState], *, not_reason: str | None = ..., limit: int | None = ...
    ) -> None: ...


# Waiting instances a tick moves on at most. Each costs the tick about 0.07 ms, and the nodes
# wait for its commit: 1,000 at once kept them idle for 70 ms after SubmitJob.
RUNNABLE_PER_TICK = 256


@dataclass(slots=True)
class TickQuota:
    """What the job steps of one tick share: how many more waiting instances may go on (become
    runnable, and so be handed over) in this tick, and the jobs that had more, stepped again in
    the next one."""

    runnable_left: int
    deferred: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class StepContext:
    """One job's step in a tick, as its parts see it."""

    conn: Conn
    job: Job
    now_ms: int
    effects: Effects
    env_view: Callable[[str], EnvView | None]
    work_root: Path
    quota: TickQuota
