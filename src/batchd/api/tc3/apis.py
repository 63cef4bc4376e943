"""An API 3.0 product served on the shared `POST /` endpoint: what its requests are signed for,
which version it is, which actions it has and which of them batchd serves.

The endpoint picks the product by the request's version (tdmq-api.md §1): Batch 2017-03-12 and
the TDMQ CMQ actions of 2020-02-17 share the signature check, the envelope and the validation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from batchd.api.tc3 import errors as tc3_errors
from batchd.domain import errors
from batchd.domain.scope import Scope

Handler = Callable[[Scope, Any], Awaitable[dict[str, Any]]]
"""Serves one action: gets the caller's scope and the validated request model (an instance of
the model it is registered with), returns the answer's fields without `RequestId`. A raised
BatchdError answers its code (see `Api.code_for`); anything else InternalError."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Api:
    """One product's API on the endpoint."""

    title: str
    """How messages name it: `Batch API`, `TDMQ API`."""
    service: str
    """The service of its credential scope (`batch`, `tdmq`) and its label in /metrics."""
    version: str
    known: frozenset[str]
    """Every action of this version of the API; one batchd does not serve answers
    UnsupportedOperation (`not_offered`), any other name InvalidAction."""
    actions: Mapping[str, tuple[type[BaseModel], Handler]]
    """The served actions: request model and handler. Batchd extensions are served too."""
    extensions: frozenset[str] = frozenset()
    not_offered: Callable[[str], str] = field(
        default=lambda name: f"The action `{name}` is not offered by batchd"
    )
    code_for: Callable[[errors.BatchdError], str] = tc3_errors.code_for

    def __post_init__(self) -> None:
        strangers = set(self.actions) - self.known - self.extensions
        if strangers:
            raise ValueError(
                f"not actions of the {self.title} nor batchd extensions: {sorted(strangers)}"
            )
