"""The TDMQ API as the shared API 3.0 endpoint serves it: its CMQ actions over `MessageService`."""

from __future__ import annotations

from batchd.api.tc3.apis import Api
from batchd.api.tdmq import actions, handlers
from batchd.api.tdmq import errors as tdmq_errors
from batchd.mq.service import MessageService


def tdmq_api(service: MessageService) -> Api:
    return Api(
        title="TDMQ API",
        service=actions.SERVICE,
        version=actions.VERSION,
        known=actions.KNOWN,
        actions=handlers.build(service),
        not_offered=actions.not_offered,
        code_for=tdmq_errors.code_for,
    )
