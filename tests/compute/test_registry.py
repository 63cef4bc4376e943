"""The worker's table of attempts: what a stop answers at each point of an attempt's life."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from batchd.compute import registry

KEY = "job-reg00001:Task1:0:1"


@pytest.fixture(autouse=True)
def forgotten() -> Iterator[None]:
    yield
    registry.forget([KEY])
    registry.claim(KEY)  # takes a stop left behind, if any
    registry.release(KEY)


def test_an_ended_attempt_of_a_pack_answers_running_until_its_end_is_sent() -> None:
    registry.expect([KEY])
    attempt = registry.claim(KEY)
    assert not isinstance(attempt, str)
    registry.release(KEY)

    # Its end is held in the pack's outbox: that report comes, nothing may come before it.
    assert registry.stop(KEY, "TERMINATED_BY_USER") == registry.RUNNING
    assert attempt.kill_reason is None  # nothing runs any more to be stopped

    registry.reported([KEY])
    assert registry.stop(KEY, "TERMINATED_BY_USER") == registry.UNKNOWN


def test_an_attempt_outside_a_pack_is_unknown_once_it_has_ended() -> None:
    attempt = registry.claim(KEY)
    assert not isinstance(attempt, str)
    registry.release(KEY)

    assert registry.stop(KEY, "TERMINATED_BY_USER") == registry.UNKNOWN


def test_a_pack_that_ends_forgets_the_ends_it_could_not_send() -> None:
    registry.expect([KEY])
    registry.claim(KEY)
    registry.release(KEY)

    registry.forget([KEY])  # its result carries them

    assert registry.stop(KEY, "TERMINATED_BY_USER") == registry.UNKNOWN
