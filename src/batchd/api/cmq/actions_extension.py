"""batchd's own CMQ actions: purge a queue, list and redrive dead-letter deliveries."""

from __future__ import annotations

from batchd.api.cmq.actions_common import MAX_LIST_LIMIT, Action, Reply, action, paging, seconds
from batchd.api.cmq.params import Params
from batchd.domain import errors
from batchd.domain.scope import Scope
from batchd.mq.service import MessageService

ACTIONS: dict[str, Action] = {}


# --- batchd extensions (no CMQ equivalent; used by the batchd CLI and console) --------------


@action(ACTIONS, "PurgeQueue", ("queueName",))
async def purge_queue(svc: MessageService, scope: Scope, p: Params) -> Reply:
    await svc.queues.purge(scope, p.text("queueName"))
    return Reply()


@action(ACTIONS, "ListDeadLetterDeliveries", ("topicName", "offset", "limit"))
async def list_dead_letter_deliveries(svc: MessageService, scope: Scope, p: Params) -> Reply:
    _, offset, limit = paging(p, MAX_LIST_LIMIT)
    total, found = await svc.dead_letters(scope, p.optional_text("topicName"), offset, limit)
    return Reply(
        {
            "totalCount": total,
            "deliveryList": [
                {
                    "deliveryId": d.pk,
                    "topicName": d.topic_name,
                    "subscriptionName": d.subscription_name,
                    "protocol": str(d.protocol),
                    "endpoint": d.endpoint,
                    "msgId": d.msg_id,
                    "msgBody": d.body.decode("utf-8", errors="replace"),
                    "attempts": d.attempts,
                    "lastError": d.last_error,
                    "publishTime": seconds(d.publish_ms),
                }
                for d in found
            ],
        }
    )


@action(ACTIONS, "RedriveDeadLetterDeliveries", (), ("deliveryId",))
async def redrive_dead_letter_deliveries(svc: MessageService, scope: Scope, p: Params) -> Reply:
    given = p.items("deliveryId")
    ids: list[int] | None = None
    if given is not None:
        try:
            ids = [int(value) for value in given]
        except ValueError:
            raise errors.ParameterTypeError(parameter="deliveryId") from None
    return Reply({"redrivenCount": await svc.redrive(scope, ids)})
