"""Queue pages: queues with their counters, a queue's messages peeked without consuming them
(event messages decoded next to the raw body), and test messages. Changes go through the CMQ
actions."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from batchd.api.console import bodies
from batchd.api.console.guard import BASE, POST, Deps, Visit, page
from batchd.domain.events import iso

PAGE_SIZE = 20
PEEK_LIMIT = 50


def _page_number(visit: Visit) -> int:
    text = visit.query("page", "1")
    return max(1, int(text)) if text.isdigit() and len(text) < 7 else 1


async def queue_list(visit: Visit) -> Response:
    current = _page_number(visit)
    listed = await visit.deps.message_actions(
        "ListQueue",
        visit.scope,
        {"offset": str((current - 1) * PAGE_SIZE), "limit": str(PAGE_SIZE)},
    )
    queues = [
        await visit.deps.message_actions(
            "GetQueueAttributes", visit.scope, {"queueName": item["queueName"]}
        )
        for item in listed["queueList"]
    ]
    total = int(listed["totalCount"])
    return visit.page(
        "queues.html",
        queues=queues,
        total=total,
        number=current,
        pages=max(1, -(-total // PAGE_SIZE)),
        query="",
    )


async def create_queue(visit: Visit) -> Response:
    name = visit.text("name")
    scalars = {"queueName": name}
    if visit.text("visibility"):
        scalars["visibilityTimeout"] = visit.text("visibility")
    await visit.deps.message_actions("CreateQueue", visit.scope, scalars)
    return visit.done(f"{BASE}/queues/{name}", f"Created queue {name}.")


async def _queue(visit: Visit, name: str) -> dict[str, Any]:
    attributes = await visit.deps.message_actions(
        "GetQueueAttributes", visit.scope, {"queueName": name}
    )
    peeked = await visit.deps.messages.queues.peek(visit.scope, name, PEEK_LIMIT)
    now_ms = visit.deps.messages.ctx.now_ms()
    messages = [
        {
            "msg_id": message.msg_id,
            "enqueued": iso(message.enqueue_ms),
            "hidden_until": iso(message.visible_ms) if message.visible_ms > now_ms else "",
            "dequeue_count": message.dequeue_count,
            "body": bodies.decode(message.body),
        }
        for message in peeked
    ]
    stored = attributes["activeMsgNum"] + attributes["inactiveMsgNum"] + attributes["delayMsgNum"]
    return {"queue": attributes, "messages": messages, "stored": stored}


async def queue_page(visit: Visit) -> Response:
    return visit.page("queue.html", **await _queue(visit, visit.request.path_params["name"]))


async def queue_live(visit: Visit) -> Response:
    return visit.fragment(
        "_queue_live.html", **await _queue(visit, visit.request.path_params["name"])
    )


async def send(visit: Visit) -> Response:
    name = visit.request.path_params["name"]
    scalars = {"queueName": name, "msgBody": str(visit.form.get("body", ""))}
    if visit.text("delay"):
        scalars["delaySeconds"] = visit.text("delay")
    answer = await visit.deps.message_actions("SendMessage", visit.scope, scalars)
    return visit.done(f"{BASE}/queues/{name}", f"Sent message {answer['msgId']}.")


async def purge(visit: Visit) -> Response:
    name = visit.request.path_params["name"]
    await visit.deps.message_actions("PurgeQueue", visit.scope, {"queueName": name})
    return visit.done(f"{BASE}/queues/{name}", f"Emptied queue {name}.")


async def delete_queue(visit: Visit) -> Response:
    name = visit.request.path_params["name"]
    await visit.deps.message_actions("DeleteQueue", visit.scope, {"queueName": name})
    return visit.done(f"{BASE}/queues", f"Deleted queue {name}.")


def _queue_page(visit: Visit) -> str:
    return f"{BASE}/queues/{visit.request.path_params['name']}"


def routes(deps: Deps) -> list[Route]:
    return [
        Route("/queues", page(deps, queue_list)),
        Route("/queues", page(deps, create_queue, back=lambda _: f"{BASE}/queues"), methods=POST),
        Route("/queues/{name}", page(deps, queue_page)),
        Route("/queues/{name}/live", page(deps, queue_live, fragment=True)),
        Route("/queues/{name}/send", page(deps, send, back=_queue_page), methods=POST),
        Route("/queues/{name}/purge", page(deps, purge, back=_queue_page), methods=POST),
        Route("/queues/{name}/delete", page(deps, delete_queue, back=_queue_page), methods=POST),
    ]
