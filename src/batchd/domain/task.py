"""Task and job states derived from their parts (batch-api.md §4.2, §4.3), and DAG rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from batchd.domain.states import METRIC_NAMES, SETTLED, DependOn, InstanceState

S = InstanceState

EVENT_STATES = {S.RUNNING, S.SUCCEED, S.FAILED, S.FAILED_INTERRUPTED}


def derive(states: Iterable[InstanceState], ever_running: bool) -> InstanceState:
    """The state of a task from its instances' states, or of a job from its tasks' states."""
    counted = list(states)
    if counted and all(state is S.SUCCEED for state in counted):
        return S.SUCCEED
    unsettled = [state for state in counted if state not in SETTLED]
    if not unsettled:
        if S.FAILED_INTERRUPTED in counted:
            return S.FAILED_INTERRUPTED
        if S.FAILED in counted:
            return S.FAILED
    if ever_running or S.RUNNING in counted:
        return S.RUNNING
    for state in (S.STARTING, S.RUNNABLE, S.PENDING):
        if state in counted:
            return state
    return S.SUBMITTED if S.SUBMITTED in counted else S.PENDING


def event_for(entity: str, old: InstanceState, new: InstanceState) -> list[str]:
    """`TASK_RUNNING`, `JOB_FAILED` … when a derived state changes into an event state."""
    if old == new or new not in EVENT_STATES:
        return []
    return [f"{entity}_{new.value}"]


def metrics(states: Iterable[InstanceState]) -> dict[str, int]:
    counts = {name: 0 for name in METRIC_NAMES.values()}
    for state in states:
        counts[METRIC_NAMES[state]] += 1
    return counts


@dataclass(frozen=True, slots=True)
class Upstream:
    """What a task needs to know about one upstream task."""

    state: InstanceState
    any_instance_succeeded: bool


def readiness(strategy: DependOn, upstream: Sequence[Upstream]) -> bool | None:
    """True: may run now; None: wait; False: can never run (the dependency failed)."""
    verdicts = [_edge(strategy, u) for u in upstream]
    if any(v is False for v in verdicts):
        return False
    if any(v is None for v in verdicts):
        return None
    return True


def _edge(strategy: DependOn, upstream: Upstream) -> bool | None:
    if upstream.state not in SETTLED:
        return None
    if strategy is DependOn.PRE_TASK_FINISHED:
        return True
    if strategy is DependOn.PRE_TASK_AT_LEAST_PARTLY_SUCCEED:
        return upstream.any_instance_succeeded
    return upstream.state is S.SUCCEED


def find_cycle(tasks: Sequence[str], edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle in `edges` (task → downstream tasks) as a list of names, or None."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(tasks, white)
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = grey
        path.append(node)
        for nxt in edges.get(node, ()):
            if color.get(nxt) == grey:
                return [*path[path.index(nxt) :], nxt]
            if color.get(nxt) == white and (cycle := visit(nxt)):
                return cycle
        path.pop()
        color[node] = black
        return None

    for task in tasks:
        if color[task] == white and (cycle := visit(task)):
            return cycle
    return None
