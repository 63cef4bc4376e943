"""Request models of the batchd extension actions on accounts and API keys (see `actions`)."""

from __future__ import annotations

from typing import Annotated

from batchd.api.tc3.rules import Wire, text_max

AppIdValue = Annotated[str, text_max(64)]
SecretIdValue = Annotated[str, text_max(128)]


class CreateAccountRequest(Wire):
    AccountName: Annotated[str, text_max(64)]


class DescribeAccountsRequest(Wire):
    pass


class CreateApiKeyRequest(Wire):
    AppId: AppIdValue


class DescribeApiKeysRequest(Wire):
    AppId: AppIdValue | None = None


class ApiKeyRequest(Wire):
    """DisableApiKey, EnableApiKey, DeleteApiKey."""

    SecretId: SecretIdValue


class DescribeAuditEventsRequest(Wire):
    AppId: AppIdValue | None = None
    Since: Annotated[str, text_max(32)] | None = None
    AfterId: int | None = None
    Limit: int | None = None
