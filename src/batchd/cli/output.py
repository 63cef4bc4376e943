"""How the CLI shows results: rich tables for people, JSON for scripts."""

from __future__ import annotations

import base64
import binascii
import json
import re
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
    cells = [[_cell(row.get(key)) for key in keys] for row in rows]
    shown = fitting(keys, cells, out.width)
    table = Table(title=title or None)
    for at in shown:
        values = [line[at] for line in cells]
        if _is_id_column(keys[at], values):  # whole on one line: ids are copied from here
            table.add_column(keys[at], no_wrap=True, min_width=_width(keys[at], values))
        else:
            table.add_column(keys[at], overflow="fold")  # folded, never cut with "…"
    for line in cells:
        # Text, not str: a body such as "[/x]" is data, not rich markup
        table.add_row(*[Text(line[at]) for at in shown])
    out.print(table)
    if len(shown) < len(keys):
        left_out = ", ".join(keys[at] for at in range(len(keys)) if at not in shown)
        err.print(f"(not shown at this width: {left_out}; -o json has everything)", markup=False)


_ID = re.compile(r"[a-z]+(-[a-z]+)*-[a-z0-9]{8}|AKID[0-9a-f]+|[0-9]{10}")
_FOLD_FROM = 20  # a wider column may fold (a message, a body); a narrower one (a time) may not
_BORDERS = 3  # a column's padding and rule in a rich table


def _is_id_column(key: str, values: Sequence[str]) -> bool:
    filled = [value for value in values if value]
    return bool(filled) and all(_ID.fullmatch(value) for value in filled)


def _width(key: str, values: Sequence[str]) -> int:
    return max([len(key), *(len(value) for value in values)])


def fitting(keys: Sequence[str], cells: Sequence[Sequence[str]], width: int) -> list[int]:
    """The columns (indexes) that fit in `width`: columns are listed most useful first, so the
    last ones go first; ids and short values keep their whole width, longer text may fold to
    `_FOLD_FROM` characters. The first column always stays."""
    shown = list(range(len(keys)))

    def needed(at: int) -> int:
        values = [line[at] for line in cells]
        if _is_id_column(keys[at], values):
            return _width(keys[at], values)
        return min(_width(keys[at], values), max(_FOLD_FROM, len(keys[at])))

    while len(shown) > 1 and sum(needed(at) + _BORDERS for at in shown) + 1 > width:
        shown.pop()
    return shown


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
