"""Which replica leads, and the leader's work started and stopped with the lease.

Every replica answers requests; one leads: it steps jobs, owns retries and nodes, and delivers
pushes. On SQLite the one process leads from start to stop. On PostgreSQL the replicas hold an
election through the lease row (store/lease.py): the leader renews it every RENEW_SECONDS, the
others try to take it as often. A leader stops its work as soon as a renewal says another
replica has taken the lease, or when it has not renewed for most of LEASE_SECONDS (its fence
epoch is cleared first, so from that moment its leader work commits nothing).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from batchd.store.database import Database
from batchd.store.lease import LEASE_SECONDS, RENEW_SECONDS, Holder, Lease

log = logging.getLogger(__name__)

T = TypeVar("T")
Role = Literal["leader", "follower"]

# A leader that has not renewed for this share of the lease stops before it could expire.
SAFE_SHARE = 0.7


class Leadership:
    def __init__(
        self,
        db: Database,
        lease: Lease | None,
        lead: Callable[[], Awaitable[None]],
        follow: Callable[[], Awaitable[None]],
        url: str,
    ) -> None:
        self._db = db
        self._lease = lease  # None: one process on its own store, which always leads
        db.fenced, db.fence_epoch = lease is not None, None
        self._lead = lead
        self._follow = follow
        self.replica = lease.replica if lease is not None else ""
        self.url = url
        self.epoch: int | None = None
        self.leader = Holder("", "", 0)  # as last read from the lease
        self.handovers = 0  # times this replica started leading
        self._valid_until = 0.0
        self._task: asyncio.Task[None] | None = None
        # One thread of its own: a renewal never waits behind the readers' threads.
        self._thread = concurrent.futures.ThreadPoolExecutor(1, "batchd-lease")

    @property
    def role(self) -> Role:
        return "leader" if self.epoch is not None else "follower"

    @property
    def leader_url(self) -> str | None:
        if self.epoch is not None:
            return self.url
        return self.leader.url or None

    async def start(self) -> None:
        """Lead at once on a store of one's own; else take part in the election, having tried
        once already (so that a lone replica is ready as the leader)."""
        if self._lease is None:
            await self._start_leading(0)
            return
        await self._try_once()
        self._task = asyncio.create_task(self._run(), name="batchd-leadership")

    async def stop(self) -> None:
        """Stop leading (handing the lease back, so another replica leads at once) and
        stop looking for the lease."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        epoch = self.epoch
        await self._stop_leading("this replica stops", logging.INFO)
        if self._lease is not None:
            if epoch is not None:
                try:
                    await self._call(self._lease.release, epoch)
                except Exception:
                    log.warning("could not hand the lease back", exc_info=True)
            self._lease.close()
        self._thread.shutdown(wait=False)

    async def _call(self, function: Callable[..., T], *arguments: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, function, *arguments)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            await self._try_once()

    async def _try_once(self) -> None:
        """Take the lease if free, or renew it; stop leading when it is lost."""
        lease = self._lease
        assert lease is not None
        asked = time.monotonic()
        try:
            if self.epoch is None:
                epoch = await self._call(lease.try_take)
                if epoch is not None:
                    self._valid_until = asked + LEASE_SECONDS * SAFE_SHARE
                    await self._start_leading(epoch)
            elif await self._call(lease.renew, self.epoch):
                self._valid_until = asked + LEASE_SECONDS * SAFE_SHARE
            else:
                await self._stop_leading("another replica has taken the lease")
            if self.epoch is None:
                self.leader = await self._call(lease.holder)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning(
                "cannot reach the lease in the database",
                exc_info=True,
                extra={"event": "lease_unreachable"},
            )
        if self.epoch is not None and time.monotonic() > self._valid_until:
            await self._stop_leading("the lease could not be renewed in time")

    async def _start_leading(self, epoch: int) -> None:
        self._db.fence_epoch = epoch
        self.epoch = epoch
        self.leader = Holder(self.replica, self.url, epoch)
        self.handovers += 1
        log.info(
            "this replica leads (epoch %d)",
            epoch,
            extra={"event": "leading", "epoch": epoch, "replica": self.replica},
        )
        await self._lead()

    async def _stop_leading(self, why: str, level: int = logging.WARNING) -> None:
        if self.epoch is None:
            return
        # First: from now on, no leader work of this replica commits.
        self._db.fence_epoch = None
        epoch, self.epoch = self.epoch, None
        self.leader = Holder("", "", epoch)
        log.log(
            level,
            "this replica stops leading: %s",
            why,
            extra={"event": "following", "epoch": epoch, "replica": self.replica},
        )
        await self._follow()
