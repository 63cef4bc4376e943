"""How the CLI shows results: rich tables for people, JSON for scripts."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table

out = Console()
err = Console(stderr=True)


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
        table.add_column(key)
    for row in rows:
        table.add_row(*[_cell(row.get(key)) for key in keys])
    out.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def decode_body(body: str) -> Any:
    """A Base64 JSON body as a JSON value; anything else unchanged."""
    try:
        raw = base64.b64decode(body, validate=True)
        return json.loads(raw)
    except (binascii.Error, ValueError):
        return body
