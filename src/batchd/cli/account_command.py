"""`batchd account` and `batchd key`: a server's accounts and their API keys.

Both talk to the running server (found as the other client commands find it) with the key of
the credentials file or BATCHD_SECRET_ID/BATCHD_SECRET_KEY: the administrator's key creates
accounts and manages every key, another account's key its own keys.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from batchd.cli.batch_connection import connect, without_request_id
from batchd.cli.option import DataDirOpt, EndpointOpt, OutputOpt
from batchd.cli.output import Format, emit, err

account_app = typer.Typer(help="Accounts: each owns its own resources.", no_args_is_help=True)
key_app = typer.Typer(help="API keys (SecretId/SecretKey) of accounts.", no_args_is_help=True)

SecretIdArg = Annotated[str, typer.Argument(help="The key's SecretId", show_default=False)]
NEW_KEY_COLUMNS = ["AppId", "SecretId", "SecretKey"]


def register(app: typer.Typer) -> None:
    app.add_typer(account_app, name="account", rich_help_panel="Accounts")
    app.add_typer(key_app, name="key", rich_help_panel="Accounts")


def _new_key(answer: dict[str, Any], output: Format) -> None:
    emit(without_request_id(answer), output, NEW_KEY_COLUMNS)
    if output is Format.TABLE:
        err.print("The SecretKey is shown once: keep it now.")


@account_app.command("create")
def account_create(
    name: Annotated[str, typer.Argument(help="Account name", show_default=False)],
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Create an account and its first API key (the administrator only)."""
    with connect(endpoint, data_dir) as client:
        _new_key(client.call("CreateAccount", {"AccountName": name}), output)


@account_app.command("list")
def account_list(
    endpoint: EndpointOpt = None, data_dir: DataDirOpt = None, output: OutputOpt = Format.TABLE
) -> None:
    """The accounts (the administrator sees all, others their own)."""
    with connect(endpoint, data_dir) as client:
        found = client.call("DescribeAccounts", {})["AccountSet"]
    emit(found, output, ["AppId", "AccountName", "Admin", "KeyCount", "CreateTime"])


@key_app.command("create")
def key_create(
    app_id: Annotated[
        str, typer.Option("--app-id", help="The account's AppId", show_default=False)
    ],
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Create another API key of an account."""
    with connect(endpoint, data_dir) as client:
        _new_key(client.call("CreateApiKey", {"AppId": app_id}), output)


@key_app.command("list")
def key_list(
    app_id: Annotated[
        str | None, typer.Option("--app-id", help="Only this account's keys", show_default=False)
    ] = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """API keys, without their secrets."""
    with connect(endpoint, data_dir) as client:
        found = client.call("DescribeApiKeys", {"AppId": app_id} if app_id else {})["ApiKeySet"]
    emit(found, output, ["SecretId", "AppId", "Enabled", "CreateTime"])


def _key_action(action: str, done: str) -> Any:
    def command(
        secret_id: SecretIdArg, endpoint: EndpointOpt = None, data_dir: DataDirOpt = None
    ) -> None:
        with connect(endpoint, data_dir) as client:
            client.call(action, {"SecretId": secret_id})
        err.print(f"{done} {secret_id}")

    return command


key_app.command("disable", help="Disable a key: refused from its next request on.")(
    _key_action("DisableApiKey", "disabled")
)
key_app.command("enable", help="Enable a disabled key again.")(
    _key_action("EnableApiKey", "enabled")
)
key_app.command("delete", help="Delete a key for good.")(_key_action("DeleteApiKey", "deleted"))
