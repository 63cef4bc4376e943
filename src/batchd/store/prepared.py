"""Statements of the hottest paths, compiled once per dialect and run on the driver's cursor.

SQLAlchemy Core costs about 15 µs a statement on top of the driver (its execution context,
events and result wrapping): 25 µs against 9.4 µs for the queue lookup on SQLite. A message sent,
received and deleted runs a dozen statements, so the message path and the audit entry run theirs
here. The statements are still written in Core, and the transaction is still the connection's.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Connection, Integer, LargeBinary, String
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql import ClauseElement, Insert

Params = Mapping[str, Any]

# Values of these types reach Python as the drivers give them (int, str, bytes) on both
# dialects, so rows need none of SQLAlchemy's result processing (Booleans are made bool here).
_PLAIN_TYPES = (Integer, String, LargeBinary)


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...] | None  # bind names in order (positional paramstyle), else None
    defaults: dict[str, Any]  # literal values the statement binds itself
    processors: dict[str, Any]  # bind processors of the dialect (e.g. SQLite's BLOB)


class Prepared:
    """One Core statement; `rows`, `first`, `run` and `key` execute it in `conn`'s
    transaction."""

    def __init__(
        self,
        statement: ClauseElement,
        *,
        column_keys: Sequence[str] = (),
        returning: ColumnElement[Any] | None = None,
    ) -> None:
        if isinstance(statement, Insert):
            # An INSERT sets every column but its generated key unless `column_keys` says
            # otherwise, and fetches back only the key it is asked for (`key`).
            column_keys = column_keys or [
                column.key for column in statement.table.columns if not column.primary_key
            ]
            statement = statement.inline() if returning is None else statement.returning(returning)
        self._statement = statement
        self._column_keys = list(column_keys)
        self._compiled: dict[str, _Compiled] = {}
        selected = getattr(statement, "selected_columns", None) if returning is None else None
        self._row: Any = None  # the named tuple class of a SELECT's rows
        self._booleans: list[int] = []  # where a row has a Boolean (SQLite gives 0 or 1)
        if selected is not None:
            for index, column in enumerate(selected):
                if isinstance(column.type, Boolean):
                    self._booleans.append(index)
                elif not isinstance(column.type, _PLAIN_TYPES):
                    raise TypeError(f"{column.name}: {column.type} needs result processing")
            self._row = _row_type(list(selected.keys()))

    def rows(self, conn: Connection, params: Params) -> list[Any]:
        cursor = self._execute(conn, params)
        return [self._made(row) for row in cursor.fetchall()]

    def first(self, conn: Connection, params: Params) -> Any | None:
        row = self._execute(conn, params).fetchone()
        return None if row is None else self._made(row)

    def key(self, conn: Connection, params: Params) -> int:
        """Insert one row; the generated key it was built to return."""
        row = self._execute(conn, params).fetchone()
        return int(row[0])

    def _made(self, row: tuple[Any, ...]) -> Any:
        assert self._row is not None, "not a SELECT"
        if self._booleans:
            values = list(row)
            for index in self._booleans:
                if values[index] is not None:
                    values[index] = bool(values[index])
            row = tuple(values)
        return self._row._make(row)

    def run(self, conn: Connection, params: Params | Sequence[Params]) -> int:
        """Execute once, or once per parameter set; the number of rows changed."""
        return int(self._execute(conn, params).rowcount)

    def _execute(self, conn: Connection, params: Params | Sequence[Params]) -> Any:
        compiled = self._compiled.get(conn.dialect.name) or self._compile(conn)
        if not conn.in_transaction():
            conn.begin()  # as Core's autobegin would: the dialect's BEGIN and isolation level
        driver = conn.connection.driver_connection
        assert driver is not None
        cursor = driver.cursor()
        try:
            if isinstance(params, Mapping):
                cursor.execute(compiled.sql, _bound(compiled, params))
            else:
                cursor.executemany(compiled.sql, [_bound(compiled, each) for each in params])
        except conn.dialect.loaded_dbapi.Error as error:
            raise _wrapped(conn, compiled.sql, params, error, cursor) from error
        return cursor

    def _compile(self, conn: Connection) -> _Compiled:
        compiled = self._statement.compile(
            dialect=conn.dialect, column_keys=self._column_keys or None
        )
        positional = compiled.positiontup  # type: ignore[attr-defined]
        processors = {
            name: processor
            for name, processor in compiled._bind_processors.items()  # type: ignore[attr-defined]
            if processor is not None
        }
        defaults = {
            compiled.bind_names[bind]: bind.effective_value  # type: ignore[attr-defined]
            for bind in compiled.binds.values()  # type: ignore[attr-defined]
            if not bind.required
        }
        if isinstance(self._statement, Insert):
            defaults.update(_column_defaults(self._statement, set(self._column_keys)))
        made = _Compiled(
            sql=compiled.string,
            names=tuple(positional) if positional is not None else None,
            defaults=defaults,
            processors=processors,
        )
        self._compiled[conn.dialect.name] = made
        return made


def _column_defaults(statement: Insert, given: set[str]) -> dict[str, Any]:
    """The values Core would fill in for the columns an INSERT leaves out."""
    filled = {}
    for column in statement.table.columns:
        default = column.default
        if default is None or column.key in given:
            continue
        if not default.is_scalar:
            raise TypeError(f"{column.key}: only a constant default can be filled in")
        filled[column.key] = default.arg  # type: ignore[attr-defined]
    return filled


def _row_type(names: list[str]) -> Any:
    return collections.namedtuple("Row", names, rename=True)


def _bound(compiled: _Compiled, params: Params) -> Any:
    values = {**compiled.defaults, **params}
    for name, processor in compiled.processors.items():
        if values.get(name) is not None:
            values[name] = processor(values[name])
    if compiled.names is None:
        return values
    return tuple(values[name] for name in compiled.names)


def _wrapped(
    conn: Connection, sql: str, params: Any, error: Exception, cursor: Any
) -> sa_exc.StatementError:
    """The driver's error as Core would have raised it (so `store.errors` translates it), with
    the connection invalidated when the error means it is gone."""
    dialect = conn.dialect
    gone = dialect.is_disconnect(error, conn.connection.driver_connection, cursor)  # type: ignore[arg-type]
    if gone:
        conn.invalidate(error)
    return sa_exc.DBAPIError.instance(
        sql, params, error, dialect.loaded_dbapi.Error, connection_invalidated=gone
    )
