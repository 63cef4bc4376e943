"""Task and job states derived from their parts, dependency readiness and cycle detection."""

from __future__ import annotations

import pytest

from batchd.domain import task as rules
from batchd.domain.states import DependOn, InstanceState

S = InstanceState


@pytest.mark.parametrize(
    ("states", "ever_running", "expected"),
    [
        ([S.SUCCEED, S.SUCCEED], False, S.SUCCEED),
        ([S.SUCCEED, S.FAILED], True, S.FAILED),
        ([S.FAILED, S.FAILED_INTERRUPTED], True, S.FAILED_INTERRUPTED),
        ([S.RUNNING, S.RUNNABLE], True, S.RUNNING),
        ([S.RUNNABLE, S.SUCCEED], True, S.RUNNING),  # RUNNING is sticky until final
        ([S.STARTING, S.RUNNABLE], False, S.STARTING),
        ([S.RUNNABLE, S.PENDING], False, S.RUNNABLE),
        ([S.PENDING], False, S.PENDING),
        ([S.SUBMITTED], False, S.SUBMITTED),
        ([S.FAILED, S.RUNNABLE], True, S.RUNNING),
    ],
)
def test_derivation(
    states: list[InstanceState], ever_running: bool, expected: InstanceState
) -> None:
    assert rules.derive(states, ever_running) is expected


@pytest.mark.parametrize(
    ("strategy", "upstream", "expected"),
    [
        (DependOn.PRE_TASK_SUCCEED, [rules.Upstream(S.SUCCEED, True)], True),
        (DependOn.PRE_TASK_SUCCEED, [rules.Upstream(S.FAILED, True)], False),
        (DependOn.PRE_TASK_SUCCEED, [rules.Upstream(S.RUNNING, True)], None),
        (DependOn.PRE_TASK_AT_LEAST_PARTLY_SUCCEED, [rules.Upstream(S.FAILED, True)], True),
        (DependOn.PRE_TASK_AT_LEAST_PARTLY_SUCCEED, [rules.Upstream(S.FAILED, False)], False),
        (DependOn.PRE_TASK_FINISHED, [rules.Upstream(S.FAILED, False)], True),
        (DependOn.PRE_TASK_FINISHED, [rules.Upstream(S.FAILED_INTERRUPTED, False)], True),
        (DependOn.PRE_TASK_SUCCEED, [], True),
    ],
)
def test_readiness(
    strategy: DependOn, upstream: list[rules.Upstream], expected: bool | None
) -> None:
    assert rules.readiness(strategy, upstream) is expected


def test_cycles_are_found() -> None:
    assert rules.find_cycle(["a", "b", "c"], {"a": ["b"], "b": ["c"]}) is None
    assert rules.find_cycle(["a", "b", "c"], {"a": ["b"], "b": ["c"], "c": ["a"]}) == [
        "a",
        "b",
        "c",
        "a",
    ]
    assert rules.find_cycle(["a"], {"a": ["a"]}) == ["a", "a"]


def test_metrics_count_every_state() -> None:
    counts = rules.metrics([S.RUNNING, S.RUNNING, S.FAILED])
    assert counts["RunningCount"] == 2
    assert counts["FailedCount"] == 1
    assert sum(counts.values()) == 3
