"""Push delivery to a real HTTP receiver: formats, headers, both retry strategies, dead letters."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from batchd.domain.scope import Scope
from batchd.mq.service import MessageService
from tests.endpoint import RecordingEndpoint
from tests.mq.conftest import FakeClock

SCOPE = Scope("1250000001", "ap-guangzhou")


async def eventually(predicate: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def subscribe_http(
    service: MessageService, url: str, strategy: str, content_format: str = "JSON"
) -> None:
    await service.topics.create(SCOPE, "events", 65536, 1)
    await service.subscriptions.subscribe(
        SCOPE,
        "events",
        "hook",
        protocol="http",
        endpoint=url,
        notify_strategy=strategy,
        content_format=content_format,
        filter_tags=[],
        binding_keys=[],
    )


async def test_json_push_carries_the_message_and_its_headers(service: MessageService) -> None:
    with RecordingEndpoint() as endpoint:
        await subscribe_http(service, endpoint.url, "BACKOFF_RETRY")
        (msg_id,) = await service.publisher.publish(SCOPE, "events", ["hello"], ["a", "b"], "")
        await eventually(lambda: len(endpoint.received) == 1)
    pushed = endpoint.received[0]
    assert json.loads(pushed.body) == {
        "TopicOwner": SCOPE.account,
        "topicName": "events",
        "subscriptionName": "hook",
        "msgId": msg_id,
        "msgBody": "hello",
        "publishTime": int(service.ctx.clock()),
    }
    assert pushed.headers["x-cmq-message-id"] == msg_id
    assert pushed.headers["x-cmq-message-tag"] == "a,b"
    assert pushed.headers["content-type"] == "text/plain"
    assert pushed.headers["x-cmq-request-id"]


async def test_simplified_push_is_the_bare_body(service: MessageService) -> None:
    with RecordingEndpoint() as endpoint:
        await subscribe_http(service, endpoint.url, "BACKOFF_RETRY", "SIMPLIFIED")
        await service.publisher.publish(SCOPE, "events", ["raw body"], [], "")
        await eventually(lambda: len(endpoint.received) == 1)
    assert endpoint.received[0].body == b"raw body"
    assert "x-cmq-message-tag" not in endpoint.received[0].headers


async def _wait_for_attempts(
    service: MessageService, endpoint: RecordingEndpoint, failures: int, delivered: int
) -> None:
    """Until the receiver saw these attempts and the dispatcher recorded each failure."""
    outcomes = service.push.outcomes
    await eventually(
        lambda: (
            len(endpoint.failures) >= failures
            and len(endpoint.received) >= delivered
            and outcomes["failed"] + outcomes["dead_lettered"] >= failures
        )
    )


async def test_exponential_retry_delivers_after_failures(
    service: MessageService, clock: FakeClock
) -> None:
    with RecordingEndpoint() as endpoint:
        endpoint.fail_next(3)
        await subscribe_http(service, endpoint.url, "EXPONENTIAL_DECAY_RETRY")
        await service.publisher.publish(SCOPE, "events", ["retry me"], [], "")
        for attempt in range(1, 4):
            await _wait_for_attempts(service, endpoint, attempt, 0)
            _, pending = await service.subscriptions.get(SCOPE, "events", "hook")
            assert pending == 1
            clock.advance(2 ** (attempt - 1))  # 1, 2, 4 s: exactly the next retry time
            service.ctx.signals.push.fire()
        await _wait_for_attempts(service, endpoint, 3, 1)
        await eventually(lambda: service.push.outcomes["delivered"] == 1)
    assert [r.body for r in endpoint.received] == [endpoint.failures[0].body]
    _, pending = await service.subscriptions.get(SCOPE, "events", "hook")
    assert pending == 0
    assert service.push.outcomes["failed"] == 3


async def test_exponential_retry_gives_up_after_a_day_into_dead_letters(
    service: MessageService, clock: FakeClock
) -> None:
    with RecordingEndpoint() as endpoint:
        endpoint.fail_next(1000)
        await subscribe_http(service, endpoint.url, "EXPONENTIAL_DECAY_RETRY")
        await service.publisher.publish(SCOPE, "events", ["doomed"], [], "")
        await _wait_for_attempts(service, endpoint, 1, 0)
        clock.advance(86_400)
        service.ctx.signals.push.fire()
        await eventually(lambda: service.push.outcomes["dead_lettered"] == 1)
        total, dead = await service.dead_letters(SCOPE, None, 0, 10)
        assert total == 1
        assert dead[0].body == b"doomed"
        assert dead[0].last_error == "HTTP 500"
        assert dead[0].attempts == 2

        endpoint.fail_next(0)
        assert await service.redrive(SCOPE, None) == 1
        await eventually(lambda: len(endpoint.received) == 1)
        await eventually(lambda: service.push.outcomes["delivered"] == 1)
    assert json.loads(endpoint.received[0].body)["msgBody"] == "doomed"
    total, _ = await service.dead_letters(SCOPE, None, 0, 10)
    assert total == 0


async def test_backoff_retry_tries_three_more_times_then_dead_letters(
    service: MessageService, clock: FakeClock
) -> None:
    with RecordingEndpoint() as endpoint:
        endpoint.fail_next(1000)
        await subscribe_http(service, endpoint.url, "BACKOFF_RETRY")
        await service.publisher.publish(SCOPE, "events", ["x"], [], "")
        for attempt in range(1, 5):
            await _wait_for_attempts(service, endpoint, attempt, 0)
            clock.advance(20)  # BACKOFF_RETRY waits 10-20 s between attempts
            service.ctx.signals.push.fire()
        await eventually(lambda: service.push.outcomes["dead_lettered"] == 1)
        assert len(endpoint.failures) == 4
        total, _ = await service.dead_letters(SCOPE, "events", 0, 10)
        assert total == 1


async def test_a_failing_subscriber_does_not_block_the_others(service: MessageService) -> None:
    with RecordingEndpoint() as failing, RecordingEndpoint() as healthy:
        failing.fail_next(1000)
        await subscribe_http(service, failing.url, "BACKOFF_RETRY")
        await service.subscriptions.subscribe(
            SCOPE,
            "events",
            "healthy",
            protocol="http",
            endpoint=healthy.url,
            notify_strategy="BACKOFF_RETRY",
            content_format="SIMPLIFIED",
            filter_tags=[],
            binding_keys=[],
        )
        for n in range(5):
            await service.publisher.publish(SCOPE, "events", [f"m{n}"], [], "")
        await eventually(lambda: len(healthy.received) == 5)
    assert sorted(r.body for r in healthy.received) == [f"m{n}".encode() for n in range(5)]


async def test_unsubscribe_drops_pending_deliveries(service: MessageService) -> None:
    with RecordingEndpoint() as endpoint:
        endpoint.fail_next(1000)
        await subscribe_http(service, endpoint.url, "BACKOFF_RETRY")
        await service.publisher.publish(SCOPE, "events", ["x"], [], "")
        await _wait_for_attempts(service, endpoint, 1, 0)
        await service.subscriptions.unsubscribe(SCOPE, "events", "hook")
        topic, held = await service.topics.get(SCOPE, "events")
    assert held == 0
    assert topic.name == "events"
