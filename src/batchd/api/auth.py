"""Who is calling: API keys by SecretId, the nonces already seen, and each key's rate."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from batchd.domain import errors
from batchd.domain.account import Credential
from batchd.store import request_memory

log = logging.getLogger(__name__)

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


class UsageExchange(Protocol):
    """Where replicas tell each other what they admitted (store/request_memory.py)."""

    async def exchange(self, admitted: Mapping[str, int]) -> dict[str, int]:
        """Report `admitted` by key; return what the others admitted since the last call."""
        ...


class RateLimiter:
    """A token bucket per SecretId: `rate` requests a second, bursts of `2 * rate`; a key over
    its rate is refused at once (RateLimited) instead of slowing everyone else. 0: no limit.

    Replicas of one PostgreSQL database share the rate through `share`: each keeps every key's
    whole bucket and also spends from it what the others report having admitted, a fraction of a
    second late; store/request_memory.py says why, and how far the total may go over the rate.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = 2 * rate
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # secret id -> (tokens, when)
        self._admitted: dict[str, int] | None = None  # by key since the last report, if shared

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
        if self._admitted is not None:
            self._admitted[secret_id] = self._admitted.get(secret_id, 0) + 1

    def spend(self, secret_id: str, count: int) -> None:
        """Take `count` tokens that other replicas used for this key: the bucket may go below
        zero, and then admits nothing until it has refilled past one."""
        if not self._rate:
            return
        now = self._clock()
        tokens, then = self._buckets.get(secret_id, (self._burst, now))
        tokens = min(self._burst, tokens + (now - then) * self._rate)
        self._buckets[secret_id] = (tokens - count, now)

    async def share(self, memory: UsageExchange) -> None:
        """Exchange admissions with the other replicas of `memory` until cancelled."""
        if not self._rate:
            return
        self._admitted = {}
        failing = False
        try:
            while True:
                admitted, self._admitted = self._admitted, {}
                try:
                    others = await memory.exchange(admitted)
                except Exception:
                    for secret_id, count in admitted.items():  # reported next time instead
                        self._admitted[secret_id] = self._admitted.get(secret_id, 0) + count
                    if not failing:
                        log.warning(
                            "cannot share key usage with the other replicas: each limits "
                            "alone until the database answers again",
                            exc_info=True,
                            extra={"event": "rate_share_failed"},
                        )
                    failing = True
                else:
                    if failing:
                        log.info("sharing key usage again", extra={"event": "rate_share_back"})
                    failing = False
                    for secret_id, count in others.items():
                        self.spend(secret_id, count)
                await asyncio.sleep(request_memory.SYNC_SECONDS)
        finally:
            self._admitted = None


class NonceCache:
    """Remembers (SecretId, Nonce, Timestamp) for ten minutes to refuse replays. With `shared`
    (replicas of one PostgreSQL database) a replay is refused whichever replica saw the first
    use; this cache still answers first, for the replays it has seen itself."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        capacity: int = 1_000_000,
        shared: request_memory.RequestMemory | None = None,
    ) -> None:
        self._seen: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self._clock = clock
        self._capacity = capacity
        self._shared = shared

    def check_timestamp(self, timestamp: int) -> None:
        if abs(self._clock() - timestamp) > TIMESTAMP_WINDOW_SECONDS:
            raise errors.RequestExpired(parameter="Timestamp")

    async def remember(self, secret_id: str, nonce: str, timestamp: str) -> None:
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
        self._seen[key] = now  # before the await: the same request twice here is refused here
        if self._shared is None:
            return
        try:
            first = await self._shared.first_use(secret_id, nonce, timestamp)
        except BaseException:
            self._seen.pop(key, None)  # not known to be used: a retry may use it
            raise
        if not first:
            raise errors.NonceReplayed(parameter="Nonce")
