"""Request parameters: spellings, repeatable `name.n` lists, types and the unknown-name check."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from batchd.domain import errors

# Sent by clients on every request; never an action's own parameter.
COMMON = frozenset(
    {
        "Action",
        "SecretId",
        "Timestamp",
        "Nonce",
        "Signature",
        "SignatureMethod",
        "Region",
        "Token",
        "RequestClient",
        "clientRequestId",
        "UserpollingWaitSeconds",
        "Version",
        "Language",
    }
)
_INDEXED = re.compile(r"(?P<name>[A-Za-z][A-Za-z0-9]*)\.(?P<index>[0-9]+)")
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_INTEGER = re.compile(r"[+-]?[0-9]+")


def canonical(name: str, known: frozenset[str] | tuple[str, ...]) -> str | None:
    """The known spelling of `name`, matching the first letter in either case."""
    return _spellings(known).get(name)


@functools.lru_cache(maxsize=256)
def _spellings(known: frozenset[str] | tuple[str, ...]) -> dict[str, str]:
    """Every accepted spelling of `known`'s names, listed once per collection of names (no two
    names of one collection differ only in their first letter's case)."""
    table: dict[str, str] = {}
    for candidate in known:
        for spelling in (
            candidate,
            candidate[:1].lower() + candidate[1:],
            candidate[:1].upper() + candidate[1:],
        ):
            table.setdefault(spelling, candidate)
    return table


@dataclass(frozen=True, slots=True)
class Spec:
    """The parameters one action takes: scalars and repeatable lists."""

    scalars: frozenset[str] = frozenset()
    lists: frozenset[str] = frozenset()


class Params:
    """Parsed parameters of one request, checked against the action's Spec."""

    def __init__(self, scalars: Mapping[str, str], lists: Mapping[str, list[str]]) -> None:
        self._scalars = dict(scalars)
        self._lists = dict(lists)

    @classmethod
    def parse(cls, pairs: Iterable[tuple[str, str]], spec: Spec) -> Params:
        scalars: dict[str, str] = {}
        indexed: dict[str, dict[int, str]] = {}
        for key, value in pairs:
            if "\x00" in value and canonical(key.partition(".")[0], ("msgBody",)) is None:
                # Only message bodies are stored as bytes; PostgreSQL text refuses NUL.
                raise errors.InvalidParameterValue("NUL character in value", parameter=key)
            name = canonical(key, COMMON)
            if name is not None:
                continue
            match = _INDEXED.fullmatch(key)
            if match is not None:
                name = canonical(match["name"], spec.lists)
                if name is None:
                    if canonical(match["name"], spec.scalars):
                        raise errors.ParameterNotRepeatable(parameter=match["name"])
                    raise errors.UnknownParameter(parameter=key)
                slot = indexed.setdefault(name, {})
                index = int(match["index"])
                if index in slot:
                    raise errors.InvalidParameter(f"parameter {key} is given twice", parameter=key)
                slot[index] = value
                continue
            if not _PLAIN.fullmatch(key):
                raise errors.MalformedParameterName(parameter=key)
            name = canonical(key, spec.scalars)
            if name is None:
                list_name = canonical(key, spec.lists)
                if list_name is None:
                    raise errors.UnknownParameter(parameter=key)
                indexed.setdefault(list_name, {}).setdefault(-1, value)
                continue
            if name in scalars:
                raise errors.ParameterNotRepeatable(parameter=name)
            scalars[name] = value
        lists = {name: _ordered(name, slot) for name, slot in indexed.items()}
        return cls(scalars, lists)

    def text(self, name: str, default: str | None = None) -> str:
        value = self._scalars.get(name)
        if value is None:
            if default is None:
                raise errors.MissingParameter(parameter=name)
            return default
        return value

    def optional_text(self, name: str) -> str | None:
        return self._scalars.get(name)

    def integer(self, name: str, default: int | None = None) -> int:
        value = self.optional_integer(name)
        if value is None:
            if default is None:
                raise errors.MissingParameter(parameter=name)
            return default
        return value

    def optional_integer(self, name: str) -> int | None:
        value = self._scalars.get(name)
        if value is None:
            return None
        if not _INTEGER.fullmatch(value.strip()):  # int() also takes "1_000" and non-ASCII digits
            raise errors.ParameterTypeError(parameter=name)
        try:
            return int(value.strip())
        except ValueError:  # more digits than int() converts
            raise errors.ParameterTypeError(parameter=name) from None

    def has(self, name: str) -> bool:
        return name in self._scalars or name in self._lists

    def items(self, name: str) -> list[str] | None:
        """A repeatable parameter's values in index order, or None when it was not given."""
        return self._lists.get(name)


def _ordered(name: str, slot: dict[int, str]) -> list[str]:
    if -1 in slot:
        if len(slot) > 1:
            raise errors.InvalidParameter(
                f"parameter {name} is given both plain and numbered", parameter=name
            )
        return [slot[-1]]
    indexes = sorted(slot)
    start = indexes[0]
    if start not in (0, 1) or indexes != list(range(start, start + len(indexes))):
        raise errors.ParameterNotConsecutive(parameter=name)
    return [slot[i] for i in indexes]
