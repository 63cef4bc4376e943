"""Push retry schedules and subscription settings."""

from __future__ import annotations

import pytest

from batchd.domain import errors, subscription
from batchd.domain.subscription import NotifyStrategy, Protocol


def test_exponential_decay_doubles_up_to_512_seconds_for_a_day() -> None:
    strategy = NotifyStrategy.EXPONENTIAL_DECAY_RETRY
    delays = [subscription.next_retry_delay(strategy, n, 0, 0.5) for n in range(1, 12)]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 512]
    assert subscription.next_retry_delay(strategy, 40, 86_000, 0.5) is None


def test_exponential_decay_makes_about_176_attempts() -> None:
    strategy = NotifyStrategy.EXPONENTIAL_DECAY_RETRY
    age, attempts = 0.0, 0
    while (delay := subscription.next_retry_delay(strategy, attempts + 1, age, 0.5)) is not None:
        age += delay
        attempts += 1
    assert 170 <= attempts <= 180


def test_backoff_retries_three_times_10_to_20_seconds_apart() -> None:
    strategy = NotifyStrategy.BACKOFF_RETRY
    assert subscription.next_retry_delay(strategy, 1, 0, 0.0) == 10
    assert subscription.next_retry_delay(strategy, 3, 0, 0.999) == pytest.approx(19.99)
    assert subscription.next_retry_delay(strategy, 4, 0, 0.5) is None


@pytest.mark.parametrize(
    ("endpoint", "protocol", "ok"),
    [
        ("http://127.0.0.1:8080/hook", Protocol.HTTP, True),
        ("https://example.test/x?y=1", Protocol.HTTP, True),
        ("http://has blank/", Protocol.HTTP, False),
        ("ftp://host/", Protocol.HTTP, False),
        ("queue-name", Protocol.QUEUE, True),
        ("http://x/", Protocol.QUEUE, False),
    ],
)
def test_endpoints(endpoint: str, protocol: Protocol, ok: bool) -> None:
    if ok:
        assert subscription.check_endpoint(endpoint, protocol) == endpoint
    else:
        with pytest.raises(errors.InvalidEndpoint):
            subscription.check_endpoint(endpoint, protocol)


def test_queue_subscriptions_must_be_simplified() -> None:
    with pytest.raises(errors.QueueSubscriptionNotSimplified):
        subscription.check_content_format("JSON", Protocol.QUEUE)
