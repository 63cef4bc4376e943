"""The batchd extension actions on accounts and API keys: the CLI's `batchd account` and
`batchd key` commands call them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from batchd.api.tc3 import models_accounts as m
from batchd.api.tc3.apis import Handler
from batchd.control.accounts import AccountService
from batchd.domain.account import Credential
from batchd.domain.events import iso
from batchd.domain.scope import Scope


def build(accounts: AccountService) -> dict[str, tuple[type[BaseModel], Handler]]:
    async def create_account(scope: Scope, r: m.CreateAccountRequest) -> dict[str, Any]:
        return _credential(await accounts.create_account(scope.account, r.AccountName))

    async def describe_accounts(scope: Scope, _r: m.DescribeAccountsRequest) -> dict[str, Any]:
        found = await accounts.accounts(scope.account)
        return {
            "TotalCount": len(found),
            "AccountSet": [
                {
                    "AppId": account.app_id,
                    "AccountName": account.name,
                    "Admin": account.admin,
                    "KeyCount": keys,
                    "CreateTime": iso(account.created_ms),
                }
                for account, keys in found
            ],
        }

    async def create_key(scope: Scope, r: m.CreateApiKeyRequest) -> dict[str, Any]:
        return _credential(await accounts.create_key(scope.account, r.AppId))

    async def describe_keys(scope: Scope, r: m.DescribeApiKeysRequest) -> dict[str, Any]:
        found = await accounts.keys(scope.account, r.AppId)
        return {
            "TotalCount": len(found),
            "ApiKeySet": [
                {
                    "SecretId": key.secret_id,
                    "AppId": key.app_id,
                    "Enabled": key.enabled,
                    "CreateTime": iso(key.created_ms),
                }
                for key in found
            ],
        }

    async def disable_key(scope: Scope, r: m.ApiKeyRequest) -> dict[str, Any]:
        await accounts.set_enabled(scope.account, r.SecretId, enabled=False)
        return {}

    async def enable_key(scope: Scope, r: m.ApiKeyRequest) -> dict[str, Any]:
        await accounts.set_enabled(scope.account, r.SecretId, enabled=True)
        return {}

    async def delete_key(scope: Scope, r: m.ApiKeyRequest) -> dict[str, Any]:
        await accounts.delete_key(scope.account, r.SecretId)
        return {}

    return {
        "CreateAccount": (m.CreateAccountRequest, create_account),
        "DescribeAccounts": (m.DescribeAccountsRequest, describe_accounts),
        "CreateApiKey": (m.CreateApiKeyRequest, create_key),
        "DescribeApiKeys": (m.DescribeApiKeysRequest, describe_keys),
        "DisableApiKey": (m.ApiKeyRequest, disable_key),
        "EnableApiKey": (m.ApiKeyRequest, enable_key),
        "DeleteApiKey": (m.ApiKeyRequest, delete_key),
    }


def _credential(credential: Credential) -> dict[str, Any]:
    """A new key, shown once: its secret is not listed again."""
    return {
        "AppId": credential.app_id,
        "SecretId": credential.secret_id,
        "SecretKey": credential.secret_key,
    }
