"""Who is calling: API keys by SecretId, and the nonces already seen."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from batchd.domain import errors
from batchd.domain.account import Credential

TIMESTAMP_WINDOW_SECONDS = 300
NONCE_MEMORY_SECONDS = 600


class Keyring:
    """The API keys batchd accepts: the enabled keys of every account, replaced as a whole
    whenever they change (a lookup stays a dict lookup on every request)."""

    def __init__(self, credentials: Iterable[Credential]) -> None:
        self._by_id = {credential.secret_id: credential for credential in credentials}

    def replace(self, credentials: Iterable[Credential]) -> None:
        self._by_id = {credential.secret_id: credential for credential in credentials}

    def lookup(self, secret_id: str) -> Credential:
        credential = self._by_id.get(secret_id)
        if credential is None:
            raise errors.UnknownSecretId(
                "secret id does not exist or is disabled", parameter="SecretId"
            )
        return credential


class RateLimiter:
    """A token bucket per SecretId: `rate` requests a second, bursts of `2 * rate`; a key over
    its rate is refused at once (RateLimited) instead of slowing everyone else. 0: no limit."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = 2 * rate
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # secret id -> (tokens, when)

    def take(self, secret_id: str) -> None:
        if not self._rate:
            return
        now = self._clock()
        tokens, then = self._buckets.get(secret_id, (self._burst, now))
        tokens = min(self._burst, tokens + (now - then) * self._rate)
        if tokens < 1:
            self._buckets[secret_id] = (tokens, now)
            raise errors.RateLimited(
                f"this key may send {self._rate:g} requests a second: slow down and retry",
                parameter="SecretId",
            )
        self._buckets[secret_id] = (tokens - 1, now)


class NonceCache:
    """Remembers (SecretId, Nonce, Timestamp) for ten minutes to refuse replays."""

    def __init__(self, clock: Callable[[], float] = time.time, capacity: int = 1_000_000) -> None:
        self._seen: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self._clock = clock
        self._capacity = capacity

    def check_timestamp(self, timestamp: int) -> None:
        if abs(self._clock() - timestamp) > TIMESTAMP_WINDOW_SECONDS:
            raise errors.RequestExpired(parameter="Timestamp")

    def remember(self, secret_id: str, nonce: str, timestamp: str) -> None:
        """Record a nonce, refusing one seen within the window."""
        now = self._clock()
        while self._seen:
            oldest_key, seen_at = next(iter(self._seen.items()))
            if now - seen_at <= NONCE_MEMORY_SECONDS and len(self._seen) < self._capacity:
                break
            del self._seen[oldest_key]
        key = (secret_id, nonce, timestamp)
        if key in self._seen:
            raise errors.NonceReplayed(parameter="Nonce")
        self._seen[key] = now
