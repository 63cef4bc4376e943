"""The timeline's bars and busy shares, from what the job and environment pages hold."""

from __future__ import annotations

from batchd.api.console import timeline


def test_a_retried_attempt_ends_where_the_next_one_launched() -> None:
    instances: list[dict[str, object]] = [
        {
            "task": "t",
            "index": 0,
            "attempt": 2,
            "state": "SUCCEED",
            "node_id": "node-bbbbbbbb",
            "reason": "",
            "created_ms": 1_000,
            "running_ms": 20_000,
            "ended_ms": 25_000,
        }
    ]
    runs: list[dict[str, object]] = [
        {
            "TaskName": "t",
            "TaskInstanceIndex": 0,
            "Attempt": 1,
            "ComputeNodeId": "node-aaaaaaaa",
            "RunningTime": "1970-01-01T00:00:02Z",
        },
        {
            "TaskName": "t",
            "TaskInstanceIndex": 0,
            "Attempt": 2,
            "ComputeNodeId": "node-bbbbbbbb",
            "LaunchTime": "1970-01-01T00:00:19Z",
            "RunningTime": "1970-01-01T00:00:20Z",
        },
    ]

    first, second = timeline.bars_of_job(instances, runs)

    assert (first.node, first.state, first.launched, first.ended) == (
        "node-aaaaaaaa",
        "RETRIED",
        2_000,
        19_000,
    )
    assert (second.state, second.waiting_from, second.launched, second.ended) == (
        "SUCCEED",
        19_000,
        20_000,
        25_000,
    )
    picture = str(timeline.svg([first, second], 30_000, "t"))
    assert picture.count('class="tl-bar') == 2
    assert "attempt 1: RETRIED" in picture
    assert ">#2<" in picture


def test_busy_time_counts_overlaps_once_and_only_inside_the_window() -> None:
    runs = [("n", 0, 50), ("n", 40, 80), ("n", 90, None), ("other", 0, 100)]

    picture = str(timeline.busy_svg(["n"], runs, 10, 100, "busy"))

    assert "89% busy" in picture  # 10-80 and 90-100: 80 of the 90 ms from 10 to 100
    assert picture.count('class="tl-busy"') == 3


def test_nothing_launched_says_so() -> None:
    assert "No instance has been launched" in str(timeline.svg([], 0, "t"))
