"""Task templates: stored Task objects, validated like SubmitJob's tasks, never run by batchd."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from batchd.domain import errors, ids
from batchd.domain.scope import Scope
from batchd.mq.context import Context
from batchd.store.database import Conn, Tx
from batchd.store.repos import templates as repo


def _missing(template_ids: Sequence[str]) -> errors.NotFound:
    return errors.NotFound(
        f"task template {', '.join(template_ids)} does not exist",
        parameter="TaskTemplateId",
        code="ResourceNotFound.TaskTemplate",
    )


class TemplateService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def create(
        self, scope: Scope, name: str, description: str, info: dict[str, Any], tags: list[Any]
    ) -> str:
        ctx = self._ctx
        template_id = ids.new_task_template_id()

        def work(tx: Tx) -> str:
            repo.insert_template(
                tx.conn, scope, template_id, name, description, info, tags, ctx.now_ms()
            )
            return template_id

        return await ctx.db.write(work)

    async def modify(self, scope: Scope, template_id: str, values: dict[str, Any]) -> None:
        def work(tx: Tx) -> None:
            if not repo.existing(tx.conn, scope, [template_id]):
                raise _missing([template_id])
            repo.modify(tx.conn, scope, template_id, values)

        await self._ctx.db.write(work)

    async def delete(self, scope: Scope, template_ids: Sequence[str]) -> None:
        def work(tx: Tx) -> None:
            found = repo.existing(tx.conn, scope, template_ids)
            unknown = [t for t in template_ids if t not in found]
            if unknown:
                raise _missing(unknown)
            repo.remove(tx.conn, scope, template_ids)

        await self._ctx.db.write(work)

    async def search(
        self,
        scope: Scope,
        template_ids: Sequence[str] | None,
        filters: Sequence[tuple[str, list[str]]],
        offset: int,
        limit: int,
    ) -> tuple[int, list[Any]]:
        def work(conn: Conn) -> tuple[int, list[Any]]:
            return repo.search(conn, scope, template_ids, filters, offset, limit)

        return await self._ctx.db.read(work)
