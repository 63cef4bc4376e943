"""The batchd extension actions on accounts and API keys: the CLI's `batchd account` and
`batchd key` commands call them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from batchd.api.tc3 import models_accounts as m
from batchd.api.tc3.apis import Handler
from batchd.control.accounts import AccountService
from batchd.control.audit_trail import AuditTrail
from batchd.domain import errors
from batchd.domain.account import Credential
from batchd.domain.events import iso
from batchd.domain.scope import Scope


def build(
    accounts: AccountService, trail: AuditTrail
) -> dict[str, tuple[type[BaseModel], Handler]]:
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

    async def describe_audit(scope: Scope, r: m.DescribeAuditEventsRequest) -> dict[str, Any]:
        found = await trail.entries(
            scope.account,
            r.AppId,
            _since_ms(r.Since),
            r.AfterId or 0,
            DEFAULT_AUDIT_LIMIT if r.Limit is None else r.Limit,
        )
        return {
            "AuditEventSet": [
                {
                    "Id": entry.entry_id,
                    "Time": iso(entry.at_ms),
                    "SecretId": entry.secret_id,
                    "AppId": entry.account,
                    "Region": entry.region,
                    "Protocol": entry.protocol,
                    "Action": entry.action,
                    "Resource": entry.resource,
                    "Result": entry.result,
                    "RequestId": entry.request_id,
                }
                for entry in found
            ],
            "LastId": found[-1].entry_id if found else (r.AfterId or 0),
        }

    return {
        "DescribeAuditEvents": (m.DescribeAuditEventsRequest, describe_audit),
        "CreateAccount": (m.CreateAccountRequest, create_account),
        "DescribeAccounts": (m.DescribeAccountsRequest, describe_accounts),
        "CreateApiKey": (m.CreateApiKeyRequest, create_key),
        "DescribeApiKeys": (m.DescribeApiKeysRequest, describe_keys),
        "DisableApiKey": (m.ApiKeyRequest, disable_key),
        "EnableApiKey": (m.ApiKeyRequest, enable_key),
        "DeleteApiKey": (m.ApiKeyRequest, delete_key),
    }


DEFAULT_AUDIT_LIMIT = 100


def _since_ms(since: str | None) -> int:
    if since is None:
        return 0
    try:
        moment = datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise errors.InvalidParameterValue(
            "Since is a UTC time such as 2026-12-07T10:00:00Z", parameter="Since"
        ) from None
    return int(moment.timestamp() * 1000)


def _credential(credential: Credential) -> dict[str, Any]:
    """A new key, shown once: its secret is not listed again."""
    return {
        "AppId": credential.app_id,
        "SecretId": credential.secret_id,
        "SecretKey": credential.secret_key,
    }
