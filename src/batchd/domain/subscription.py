"""Subscription settings and the push retry schedules (cmq-api.md §2.3, §3)."""

from __future__ import annotations

import re
from enum import StrEnum

from batchd.domain import errors, names

MAX_SUBSCRIPTIONS_PER_TOPIC = 500
PUSH_TIMEOUT_SECONDS = 15.0
EXPONENTIAL_MAX_INTERVAL = 512.0
EXPONENTIAL_LIFETIME = 86_400.0
BACKOFF_RETRIES = 3
BACKOFF_MIN, BACKOFF_MAX = 10.0, 20.0


class Protocol(StrEnum):
    HTTP = "http"
    QUEUE = "queue"


class NotifyStrategy(StrEnum):
    BACKOFF_RETRY = "BACKOFF_RETRY"
    EXPONENTIAL_DECAY_RETRY = "EXPONENTIAL_DECAY_RETRY"


class ContentFormat(StrEnum):
    JSON = "JSON"
    SIMPLIFIED = "SIMPLIFIED"


_URL = re.compile(r"https?://[^\s/?#]+[^\s]*")


def check_name(name: str) -> str:
    if not names.is_valid_name(name):
        raise errors.InvalidSubscriptionName(parameter="subscriptionName")
    return name


def check_protocol(value: str) -> Protocol:
    try:
        return Protocol(value)
    except ValueError:
        raise errors.InvalidProtocol(parameter="protocol") from None


def check_strategy(value: str) -> NotifyStrategy:
    try:
        return NotifyStrategy(value)
    except ValueError:
        raise errors.InvalidNotifyStrategy(parameter="notifyStrategy") from None


def check_content_format(value: str, protocol: Protocol) -> ContentFormat:
    try:
        content_format = ContentFormat(value)
    except ValueError:
        raise errors.InvalidContentFormat(parameter="notifyContentFormat") from None
    if protocol is Protocol.QUEUE and content_format is not ContentFormat.SIMPLIFIED:
        raise errors.QueueSubscriptionNotSimplified(parameter="notifyContentFormat")
    return content_format


def check_endpoint(endpoint: str, protocol: Protocol) -> str:
    if protocol is Protocol.HTTP:
        if not _URL.fullmatch(endpoint):
            raise errors.InvalidEndpoint(parameter="endpoint")
    elif not names.is_valid_name(endpoint):
        raise errors.InvalidEndpoint(parameter="endpoint")
    return endpoint


def next_retry_delay(
    strategy: NotifyStrategy, attempts: int, age_seconds: float, jitter: float
) -> float | None:
    """Seconds until the next push attempt after `attempts` failures, or None to give up.

    `jitter` in [0, 1) is supplied by the caller so that this function stays deterministic.
    """
    if strategy is NotifyStrategy.BACKOFF_RETRY:
        if attempts > BACKOFF_RETRIES:
            return None
        return BACKOFF_MIN + (BACKOFF_MAX - BACKOFF_MIN) * jitter
    delay = min(2.0 ** (attempts - 1), EXPONENTIAL_MAX_INTERVAL)
    if age_seconds + delay > EXPONENTIAL_LIFETIME:
        return None
    return delay
