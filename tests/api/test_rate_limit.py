"""Per-key rate limits: a key over its rate is answered with its protocol's limit code at once,
and the other keys go on (cmq-api.md §1.5, batch-api.md §1.4)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cmq.cmq_exception import CMQServerException
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from batchd.api.auth import RateLimiter
from batchd.domain import errors
from tests.api.tdmq.client import Tdmq
from tests.batch.test_accounts import new_account
from tests.support import CmqAccounts, RunningServer, server_in_thread

RATE = 5.0  # a second; bursts of 10


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[RunningServer]:
    with server_in_thread(
        tmp_path / "data", f"sqlite:///{tmp_path / 'batchd.db'}", rate_limit=RATE
    ) as server:
        yield server


def test_a_key_over_its_rate_is_refused_and_others_go_on(
    limited: RunningServer, cmq_accounts: CmqAccounts
) -> None:
    other = new_account(limited, "other")  # one request of the administrator's key
    tdmq = Tdmq(limited)
    cmq: Any = cmq_accounts(limited.base_url)

    answered, code = 0, ""
    while answered < 50 and not code:
        try:
            tdmq("DescribeCmqQueues")
            answered += 1
        except TencentCloudSDKException as error:
            code = error.code
    with pytest.raises(CMQServerException) as throttled:
        cmq.list_queue()

    assert code == "RequestLimitExceeded"
    assert 5 <= answered < 12  # the burst, less what the setup took
    assert throttled.value.code == 4420
    assert "qps throttling" in throttled.value.message
    assert Tdmq(other)("DescribeCmqQueues").TotalCount == 0  # another key is not slowed


def test_the_bucket_refills_at_the_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, clock=lambda: now[0])
    for _ in range(4):  # the burst: twice the rate
        limiter.take("k")
    with pytest.raises(errors.RateLimited):
        limiter.take("k")
    now[0] = 0.5  # one more token
    limiter.take("k")
    with pytest.raises(errors.RateLimited):
        limiter.take("k")
    limiter.take("another key")
    RateLimiter(0).take("k")  # no limit


def test_what_other_replicas_used_is_owed() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, clock=lambda: now[0])
    limiter.spend("k", 7)  # 4 - 7: three in debt
    now[0] = 1.5  # +3: still below one
    with pytest.raises(errors.RateLimited):
        limiter.take("k")
    now[0] = 2.0
    limiter.take("k")
    RateLimiter(0).spend("k", 100)  # no limit, no debt


class ScriptedExchange:
    """Records what a limiter reports and answers what the test puts in `answers`."""

    def __init__(self) -> None:
        self.reported: list[dict[str, int]] = []
        self.answers: asyncio.Queue[dict[str, int]] = asyncio.Queue()

    async def exchange(self, admitted: Mapping[str, int]) -> dict[str, int]:
        self.reported.append(dict(admitted))
        return await self.answers.get()


async def reported(exchange: ScriptedExchange, count: int) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while len(exchange.reported) < count:
        assert asyncio.get_running_loop().time() < deadline, exchange.reported
        await asyncio.sleep(0.01)


async def test_a_shared_limiter_reports_its_admissions_and_spends_the_others() -> None:
    limiter = RateLimiter(2.0, clock=lambda: 0.0)
    limiter.take("k")  # before sharing: never reported
    exchange = ScriptedExchange()
    exchange.answers.put_nowait({"k": 2})  # 4 - 1 - 2: one left
    sharing = asyncio.ensure_future(limiter.share(exchange))
    try:
        await reported(exchange, 1)
        limiter.take("k")
        with pytest.raises(errors.RateLimited):
            limiter.take("k")
        limiter.take("other")
        exchange.answers.put_nowait({})
        await reported(exchange, 2)
    finally:
        sharing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sharing
    assert exchange.reported == [{}, {"k": 1, "other": 1}]
