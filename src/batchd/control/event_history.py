"""The event history of jobs and environments: list their stored events, publish them again."""

from __future__ import annotations

from collections.abc import Sequence

from batchd.control.notify import Notifier
from batchd.domain import errors
from batchd.domain.scope import Scope
from batchd.mq.context import Context
from batchd.store.database import Conn, Tx
from batchd.store.repos import envs as env_repo
from batchd.store.repos import events as event_repo
from batchd.store.repos import jobs as job_repo


class EventHistory:
    """The lifecycle events stored for each job and environment, kept after it is deleted."""

    def __init__(self, ctx: Context, notifier: Notifier) -> None:
        self._ctx = ctx
        self._notifier = notifier

    async def events_of(
        self,
        scope: Scope,
        owner_id: str,
        *,
        after_pk: int = 0,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[int, list[event_repo.HistoryEntry]]:
        """The event history of a job or environment (its nodes included), kept after it is
        deleted, oldest first: (how many events after `after_pk`, the page of them from
        `offset`, at most `limit`). NotFound only when the id never had an event in this account
        and region and names no job or environment there."""

        def work(conn: Conn) -> tuple[int, list[event_repo.HistoryEntry]]:
            total = event_repo.count_of_owner(conn, scope, owner_id, after_pk=after_pk)
            if total == 0 and after_pk == 0 and not self._exists(conn, scope, owner_id):
                raise errors.NotFound(
                    f"no job or compute environment {owner_id} in region {scope.region}: "
                    "check the id and the region",
                    resource=owner_id,
                )
            if total == 0 or (limit is not None and limit <= 0):
                return total, []
            entries = event_repo.page_of_owner(
                conn, scope, owner_id, after_pk=after_pk, offset=offset, limit=limit
            )
            return total, entries

        return await self._ctx.db.read(work)

    @staticmethod
    def _exists(conn: Conn, scope: Scope, owner_id: str) -> bool:
        return (
            job_repo.find(conn, scope, owner_id) is not None
            or env_repo.find(conn, scope, owner_id) is not None
        )

    async def replay_events(
        self, scope: Scope, owner_id: str, topic_name: str, event_ids: Sequence[str] = ()
    ) -> int:
        """Publish stored events of a job or environment again, to one topic, in their order
        (all of them, or those named); answers how many were published."""
        notifier = self._notifier

        def work(tx: Tx) -> int:
            if event_ids:
                entries = event_repo.by_ids(tx.conn, scope, list(event_ids))
                missing = set(event_ids) - {e.event.event_id for e in entries}
                strangers = [e.event.event_id for e in entries if e.owner_id != owner_id]
                if missing or strangers:
                    unknown = sorted(missing) + strangers
                    raise errors.NotFound(
                        f"no event {unknown[0]} of {owner_id}: list them with `batchd events "
                        f"{owner_id}`",
                        resource=unknown[0],
                    )
            else:
                entries = event_repo.of_owner(tx.conn, scope, owner_id)
                if not entries:
                    raise errors.NotFound(
                        f"{owner_id} has no stored events in this account and region",
                        resource=owner_id,
                    )
            try:
                for entry in entries:
                    notifier.republish(tx, scope, topic_name, entry.event, owner_id)
            except errors.TopicNotFound:
                raise errors.TopicNotFound(
                    f"topic {topic_name} does not exist in region {scope.region}: create it, "
                    "with a subscription, before replaying events to it",
                    resource=topic_name,
                ) from None
            return len(entries)

        return await self._ctx.db.write(work)
