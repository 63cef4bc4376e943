"""`batchd audit`: who changed what on the server, oldest first, optionally as it happens."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from batchd.cli.batch_connection import connect
from batchd.cli.option import DataDirOpt, EndpointOpt, OutputOpt
from batchd.cli.output import Format, emit, usage

COLUMNS = ["Time", "AppId", "SecretId", "Protocol", "Action", "Resource", "Result"]
PAGE = 500
FOLLOW_INTERVAL = 1.0
_DURATION = re.compile(r"([0-9]+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def register(app: typer.Typer) -> None:
    app.command("audit", rich_help_panel="Accounts")(audit)


def since_time(text: str, now: datetime) -> str:
    """`2026-12-07T10:00:00Z` as is, or a duration back from `now` (`30m`, `2h`, `7d`)."""
    duration = _DURATION.fullmatch(text)
    if duration:
        moment = now - timedelta(**{_UNITS[duration[2]]: int(duration[1])})
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        usage(f"--since {text!r}: give a UTC time such as 2026-12-07T10:00:00Z, or 30m, 2h, 7d")
    return text


def audit(
    app_id: Annotated[
        str | None,
        typer.Option("--app-id", help="Only this account's entries", show_default=False),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="From this UTC time (2026-12-07T10:00:00Z) or this long ago (2h)"),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new entries")
    ] = False,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Every accepted change: time, key, account, action, resource and result. The
    administrator reads all accounts' entries, another account its own."""
    request: dict[str, Any] = {"Limit": PAGE}
    if app_id:
        request["AppId"] = app_id
    if since:
        request["Since"] = since_time(since, datetime.now(UTC))
    with connect(endpoint, data_dir) as client:
        while True:
            answer = client.call("DescribeAuditEvents", request)
            entries = answer["AuditEventSet"]
            if entries or not follow:
                emit(entries, output, COLUMNS)
            request["AfterId"] = answer["LastId"]
            if len(entries) == PAGE:
                continue
            if not follow:
                return
            time.sleep(FOLLOW_INTERVAL)
