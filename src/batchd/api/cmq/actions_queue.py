"""CMQ queue actions: create a queue, set and get its attributes, delete, list and rewind it."""

from __future__ import annotations

from typing import Any

from batchd.api.cmq.actions_common import MAX_LIST_LIMIT, Action, Reply, action, paging, seconds
from batchd.api.cmq.params import Params
from batchd.domain import queue as queue_rules
from batchd.domain.scope import Scope
from batchd.mq.service import MessageService

# Queue attribute parameters and the domain's names for them.
QUEUE_ATTRIBUTES = {
    "maxMsgHeapNum": "max_msg_heap_num",
    "pollingWaitSeconds": "polling_wait_seconds",
    "visibilityTimeout": "visibility_timeout",
    "maxMsgSize": "max_msg_size",
    "msgRetentionSeconds": "msg_retention_seconds",
    "rewindSeconds": "rewind_seconds",
}
DEAD_LETTER = ("deadLetterQueueName", "policy", "maxReceiveCount", "maxTimeToLive")

ACTIONS: dict[str, Action] = {}


def _queue_changes(p: Params) -> dict[str, object]:
    changes: dict[str, object] = {}
    for wire, domain in QUEUE_ATTRIBUTES.items():
        value = p.optional_integer(wire)
        if value is not None:
            changes[domain] = value
    dead_letter_queue = p.optional_text("deadLetterQueueName")
    if dead_letter_queue is not None:
        changes["dead_letter"] = queue_rules.dead_letter(
            dead_letter_queue,
            p.integer("policy", 0),
            p.integer("maxReceiveCount", 0),
            p.integer("maxTimeToLive", 0),
        )
    return changes


_ATTRS = tuple(QUEUE_ATTRIBUTES) + DEAD_LETTER


@action(ACTIONS, "CreateQueue", ("queueName", *_ATTRS))
async def create_queue(svc: MessageService, scope: Scope, p: Params) -> Reply:
    queue = await svc.queues.create(scope, p.text("queueName"), _queue_changes(p))
    return Reply({"queueId": queue.queue_id})


@action(ACTIONS, "SetQueueAttributes", ("queueName", *_ATTRS))
async def set_queue_attributes(svc: MessageService, scope: Scope, p: Params) -> Reply:
    await svc.queues.set_attributes(scope, p.text("queueName"), _queue_changes(p))
    return Reply()


@action(ACTIONS, "GetQueueAttributes", ("queueName",))
async def get_queue_attributes(svc: MessageService, scope: Scope, p: Params) -> Reply:
    queue, counters = await svc.queues.get(scope, p.text("queueName"))
    attributes = queue.attributes
    fields: dict[str, Any] = {
        "queueName": queue.name,
        "queueId": queue.queue_id,
        **{wire: getattr(attributes, domain) for wire, domain in QUEUE_ATTRIBUTES.items()},
        "createTime": seconds(queue.created_ms),
        "lastModifyTime": seconds(queue.modified_ms),
        "activeMsgNum": counters.active,
        "inactiveMsgNum": counters.inactive,
        "delayMsgNum": counters.delayed,
        "rewindmsgNum": counters.rewindable,
        "minMsgTime": seconds(counters.oldest_enqueue_ms),
    }
    if attributes.dead_letter is not None:
        fields["deadLetterPolicy"] = {
            "deadLetterQueue": attributes.dead_letter.queue_name,
            "policy": int(attributes.dead_letter.policy),
            "maxReceiveCount": attributes.dead_letter.max_receive_count,
            "maxTimeToLive": attributes.dead_letter.max_time_to_live,
        }
    return Reply(fields)


@action(ACTIONS, "DeleteQueue", ("queueName",))
async def delete_queue(svc: MessageService, scope: Scope, p: Params) -> Reply:
    await svc.queues.delete(scope, p.text("queueName"))
    return Reply()


@action(ACTIONS, "ListQueue", ("searchWord", "offset", "limit"))
async def list_queue(svc: MessageService, scope: Scope, p: Params) -> Reply:
    search, offset, limit = paging(p, MAX_LIST_LIMIT)
    total, found = await svc.queues.page(scope, search, offset, limit)
    return Reply(
        {
            "totalCount": total,
            "queueList": [{"queueId": q.queue_id, "queueName": q.name} for q in found],
        }
    )


@action(ACTIONS, "RewindQueue", ("queueName", "startConsumeTime"))
async def rewind_queue(svc: MessageService, scope: Scope, p: Params) -> Reply:
    await svc.queues.rewind(scope, p.text("queueName"), p.integer("startConsumeTime"))
    return Reply()
