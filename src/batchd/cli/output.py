"""How the CLI shows results: rich tables for people, JSON for scripts."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

out = Console()
# soft_wrap: a message stays one line (terminals wrap it; pipes and logs get it whole)
err = Console(stderr=True, soft_wrap=True)


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


def emit(data: Any, fmt: Format, columns: Sequence[str] | None = None, title: str = "") -> None:
    """Print `data` (a dict or a list of dicts) as JSON or as a table of `columns`."""
    if fmt is Format.JSON:
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    rows = data if isinstance(data, list) else [data]
    if not rows:
        err.print("(none)")
        return
    keys = list(columns or rows[0].keys())
    table = Table(title=title or None)
    for key in keys:
        table.add_column(key, overflow="fold")  # ids must stay whole, never end in "…"
    for row in rows:
        # Text, not str: a body such as "[/x]" is data, not rich markup
        table.add_row(*[Text(_cell(row.get(key))) for key in keys])
    out.print(table)


def emit_attributes(data: dict[str, Any], output: Format, title: str = "") -> None:
    """Print a dict as a table of attribute and value rows (or as JSON rows)."""
    emit([{"attribute": k, "value": v} for k, v in data.items()], output, title=title)


def emit_cmq_attributes(answer: dict[str, Any], output: Format) -> None:
    """A CMQ Get*Attributes answer without its envelope: as JSON, or as attribute rows."""
    data = {k: v for k, v in answer.items() if k not in ("code", "message", "requestId")}
    if output is Format.JSON:
        emit(data, output)
    else:
        emit_attributes(data, output)


def emit_line(data: Any) -> None:
    """One compact JSON document on one line (JSON Lines), for streams such as --follow."""
    out.out(json.dumps(data, ensure_ascii=False), highlight=False)


def fail(message: str) -> None:
    """An error for people on stderr: red, one line, never interpreted as rich markup."""
    err.print(f"[red]batchd: {escape(message)}[/red]")


def usage(message: str) -> NoReturn:
    """A usage error: `message` as with `fail`, then exit status 2."""
    fail(message)
    raise typer.Exit(2)


def compact(value: Any) -> str:
    """A value as one line: strings unchanged, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _cell(value: Any) -> str:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def shown_message(message: dict[str, Any], decode: bool) -> dict[str, Any]:
    """A copy of a message to show, its body decoded by `decode_body` when `decode` asks."""
    shown = dict(message)
    if decode:
        shown["msgBody"] = decode_body(message["msgBody"])
    return shown


def decode_body(body: str) -> Any:
    """A Base64 JSON body as a JSON value; anything else unchanged."""
    try:
        raw = base64.b64decode(body, validate=True)
        return json.loads(raw)
    except (binascii.Error, ValueError):
        return body
