"""Calls into the Batch API handlers and the CMQ actions, for pages that act or read like a client.

A failed call raises `ActionFailed` carrying the code and message the API itself would answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from batchd.api.cmq import errors as cmq_errors
from batchd.api.cmq.actions import ACTIONS, WIRE_NAMES
from batchd.api.cmq.params import Params
from batchd.api.tc3 import errors as tc3_errors
from batchd.api.tc3 import validation
from batchd.api.tc3.dispatch import REQUEST_ID, Handler
from batchd.domain import errors
from batchd.domain.scope import Scope
from batchd.mq.service import MessageService


class ActionFailed(Exception):
    """An action refused, with the API's code (`InvalidParameterValue`, `4440`) and message."""

    def __init__(self, code: str, message: str, *, not_found: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.not_found = not_found


def batch_refusal(error: errors.BatchdError) -> ActionFailed:
    """What the Batch API answers for `error`."""
    return ActionFailed(
        tc3_errors.code_for(error), error.message, not_found=isinstance(error, errors.NotFound)
    )


class BatchActions:
    """Batch API actions by name: the request dict is parsed by the action's model first."""

    def __init__(self, actions: Mapping[str, tuple[type[BaseModel], Handler]]) -> None:
        self._actions = dict(actions)

    async def __call__(self, name: str, scope: Scope, data: dict[str, Any]) -> dict[str, Any]:
        model, handler = self._actions[name]
        token = REQUEST_ID.set(str(uuid.uuid4()))
        try:
            return await handler(scope, validation.parse(model, data))
        except errors.BatchdError as error:
            raise batch_refusal(error) from error
        finally:
            REQUEST_ID.reset(token)


class MessageActions:
    """CMQ actions by name, with their parameters as the wire would carry them."""

    def __init__(self, service: MessageService) -> None:
        self._service = service

    async def __call__(
        self,
        name: str,
        scope: Scope,
        scalars: Mapping[str, str] | None = None,
        lists: Mapping[str, Sequence[str]] | None = None,
    ) -> dict[str, Any]:
        action = ACTIONS[name]
        pairs = list((scalars or {}).items())
        for key, values in (lists or {}).items():
            pairs += [(f"{key}.{n}", value) for n, value in enumerate(values, start=1)]
        try:
            reply = await action.handler(self._service, scope, Params.parse(pairs, action.spec))
        except errors.BatchdError as error:
            parameter = WIRE_NAMES.get(error.parameter or "", error.parameter)
            code, message = cmq_errors.render(error, parameter)
            raise ActionFailed(
                str(code), message, not_found=isinstance(error, errors.NotFound)
            ) from error
        if reply.code != 0:
            raise ActionFailed(str(reply.code), reply.message)
        return reply.fields
