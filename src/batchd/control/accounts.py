"""Accounts and API keys: who may create and change them, and the keyring that follows them.

The administrator (the account of the server's own key) creates accounts and manages every
key; any other account manages its own keys only. The key the server's settings name cannot be
disabled or deleted here (change BATCHD_SECRET_KEY, or credentials.json, instead), so the
administrator cannot be shut out. After every change the enabled keys are read back and handed
to `on_keys` (the API's keyring), before the change is answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from batchd.domain import account as account_rules
from batchd.domain import errors
from batchd.domain.account import Account, ApiKey, Credential
from batchd.mq.context import Context
from batchd.store.database import Conn, Tx
from batchd.store.repos import accounts as repo

ADMIN_NAME = "admin"


class AccountService:
    def __init__(
        self,
        ctx: Context,
        admin: Credential,
        on_keys: Callable[[Sequence[Credential]], None],
    ) -> None:
        self._ctx = ctx
        self._admin = admin
        self._on_keys = on_keys
        self._reloads: set[asyncio.Task[None]] = set()
        # Another replica changed the keys (or its changes may have been missed): read them.
        ctx.db.hub.on("keys", self._reload_soon)
        ctx.db.hub.on_resync(self._reload_soon)

    def _reload_soon(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload())
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    @property
    def admin_app_id(self) -> str:
        return self._admin.app_id

    def is_admin(self, app_id: str) -> bool:
        return app_id == self._admin.app_id

    async def start(self) -> None:
        """Store the administrator's account and key (from the settings) and load the keyring."""
        admin, now_ms = self._admin, self._ctx.now_ms()

        def work(tx: Tx) -> None:
            repo.ensure_admin(tx.conn, admin, ADMIN_NAME, now_ms)
            tx.announce("keys", here=False)  # a replica with a key of its own: the others'

        await self._ctx.db.write(work)
        await self.reload()

    async def reload(self) -> None:
        """Hand the enabled keys to the keyring; the settings' key always among them."""
        stored = await self._ctx.db.read(repo.enabled_credentials)
        self._on_keys([*(c for c in stored if c.secret_id != self._admin.secret_id), self._admin])

    # --- accounts ----------------------------------------------------------------------------

    async def create_account(self, caller: str, name: str) -> Credential:
        """A new account and its first key."""
        self._require_admin(caller)
        account_rules.check_account_name(name)
        now_ms = self._ctx.now_ms()

        def work(tx: Tx) -> Credential:
            if repo.name_taken(tx.conn, name):
                raise errors.AccountExists(parameter="AccountName", resource=name)
            app_id = account_rules.new_app_id()
            while repo.find_account(tx.conn, app_id) is not None:
                app_id = account_rules.new_app_id()
            repo.insert_account(tx.conn, app_id, name, now_ms)
            return _new_key(tx, app_id, now_ms)

        credential = await self._ctx.db.write(work)
        await self.reload()
        return credential

    async def accounts(self, caller: str) -> list[tuple[Account, int]]:
        """Every account (the administrator), or the caller's own, with their key counts."""
        found = await self._ctx.db.read(repo.list_accounts)
        return [entry for entry in found if self.is_admin(caller) or entry[0].app_id == caller]

    # --- keys --------------------------------------------------------------------------------

    async def create_key(self, caller: str, app_id: str) -> Credential:
        self._require_owner(caller, app_id)
        now_ms = self._ctx.now_ms()

        def work(tx: Tx) -> Credential:
            if repo.find_account(tx.conn, app_id) is None:
                raise errors.AccountNotFound(parameter="AppId", resource=app_id)
            return _new_key(tx, app_id, now_ms)

        credential = await self._ctx.db.write(work)
        await self.reload()
        return credential

    async def keys(self, caller: str, app_id: str | None) -> list[ApiKey]:
        """Keys of `app_id` (all accounts' when None, for the administrator; else the
        caller's own)."""
        if app_id is not None:
            self._require_owner(caller, app_id)
        elif not self.is_admin(caller):
            app_id = caller
        wanted = app_id

        def work(conn: Conn) -> list[ApiKey]:
            return repo.list_keys(conn, wanted)

        return await self._ctx.db.read(work)

    async def set_enabled(self, caller: str, secret_id: str, enabled: bool) -> None:
        def work(tx: Tx) -> None:
            self._changeable_key(tx.conn, caller, secret_id)
            repo.set_enabled(tx.conn, secret_id, enabled)
            tx.announce("keys", here=False)

        await self._ctx.db.write(work)
        await self.reload()

    async def delete_key(self, caller: str, secret_id: str) -> None:
        def work(tx: Tx) -> None:
            self._changeable_key(tx.conn, caller, secret_id)
            repo.delete_key(tx.conn, secret_id)
            tx.announce("keys", here=False)

        await self._ctx.db.write(work)
        await self.reload()

    # --- rules -------------------------------------------------------------------------------

    def _changeable_key(self, conn: Conn, caller: str, secret_id: str) -> ApiKey:
        account_rules.check_secret_id(secret_id)
        key = repo.find_key(conn, secret_id)
        # Another account's key is reported as missing: its existence is not the caller's to know.
        if key is None or not (self.is_admin(caller) or key.app_id == caller):
            raise errors.ApiKeyNotFound(parameter="SecretId", resource=secret_id)
        if secret_id == self._admin.secret_id:
            raise errors.Unsupported(
                "this is the key of the server's settings: change BATCHD_SECRET_KEY (or "
                "credentials.json) and restart instead",
                parameter="SecretId",
            )
        return key

    def _require_admin(self, caller: str) -> None:
        if not self.is_admin(caller):
            raise errors.Unauthorized(
                "only the administrator (the account of the server's own key) manages accounts"
            )

    def _require_owner(self, caller: str, app_id: str) -> None:
        if not (self.is_admin(caller) or app_id == caller):
            raise errors.Unauthorized(
                "a key manages the keys of its own account only (the administrator: all)",
                parameter="AppId",
            )


def _new_key(tx: Tx, app_id: str, now_ms: int) -> Credential:
    credential = account_rules.new_credential(app_id)
    repo.insert_key(tx.conn, credential, now_ms)
    tx.announce("keys", here=False)  # the other replicas' keyrings
    return credential
