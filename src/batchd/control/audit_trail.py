"""Reading the audit trail: the administrator reads every account's entries, another account
its own."""

from __future__ import annotations

from batchd.control.accounts import AccountService
from batchd.domain import errors
from batchd.domain.audit import AuditEntry
from batchd.mq.context import Context
from batchd.store.database import Conn
from batchd.store.repos import audit as repo

MAX_LIMIT = 1000


class AuditTrail:
    def __init__(self, ctx: Context, accounts: AccountService) -> None:
        self._ctx = ctx
        self._accounts = accounts

    async def entries(
        self, caller: str, app_id: str | None, since_ms: int, after_id: int, limit: int
    ) -> list[AuditEntry]:
        if not self._accounts.is_admin(caller):
            if app_id not in (None, caller):
                raise errors.Unauthorized(
                    "an account reads its own audit entries only", parameter="AppId"
                )
            app_id = caller
        if not 1 <= limit <= MAX_LIMIT:
            raise errors.InvalidParameterValue(f"allowed 1-{MAX_LIMIT}", parameter="Limit")
        account = app_id

        def work(conn: Conn) -> list[AuditEntry]:
            return repo.entries(conn, account, since_ms, after_id, limit)

        return await self._ctx.db.read(work)
