"""Accounts (AppIds) and their API keys: records, name rules and new keys.

The administrator is the account whose key the server's settings name (BATCHD_* or
credentials.json); it creates the other accounts and may manage every key. Any account manages
its own keys.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from batchd.domain import errors

MAX_ACCOUNT_NAME = 64
_ACCOUNT_NAME = re.compile(rf"[A-Za-z][A-Za-z0-9_.-]{{0,{MAX_ACCOUNT_NAME - 1}}}")
_SECRET_ID = re.compile(r"[\x21-\x7e]{1,128}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Credential:
    """One API key of an account (AppId)."""

    app_id: str
    secret_id: str
    secret_key: str = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    app_id: str
    name: str
    admin: bool
    created_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """A key as listed: never its secret."""

    secret_id: str
    app_id: str
    enabled: bool
    created_ms: int


def check_account_name(name: str) -> str:
    if not _ACCOUNT_NAME.fullmatch(name):
        raise errors.InvalidParameterValue(
            f"an account name is 1-{MAX_ACCOUNT_NAME} letters, digits, '_', '.' or '-', "
            "starting with a letter",
            parameter="AccountName",
        )
    return name


def check_secret_id(secret_id: str) -> str:
    if not _SECRET_ID.fullmatch(secret_id):
        raise errors.InvalidParameterValue(
            "a SecretId is 1-128 printable ASCII characters", parameter="SecretId"
        )
    return secret_id


def new_app_id() -> str:
    """A ten-digit AppId, as the cloud's are."""
    return str(1_000_000_000 + secrets.randbelow(8_999_999_999))


def new_credential(app_id: str) -> Credential:
    return Credential(
        app_id=app_id,
        secret_id="AKID" + secrets.token_hex(16),
        secret_key=secrets.token_urlsafe(24),
    )
