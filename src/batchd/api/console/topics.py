"""Topic pages: topics, their subscriptions (add a queue or HTTP subscriber, remove one), test
messages, and the push dead letters with redrive. Changes go through the CMQ actions."""

from __future__ import annotations

import re

from starlette.responses import Response
from starlette.routing import Route

from batchd.api.console.guard import BASE, POST, Deps, Visit, page

PAGE_SIZE = 20
MAX_SUBSCRIPTIONS = 100
_SPLIT = re.compile(r"[,\s]+")


def words(text: str) -> list[str]:
    """Tags or binding keys typed into one field, separated by commas or spaces."""
    return [word for word in _SPLIT.split(text) if word]


def _page_number(visit: Visit) -> int:
    text = visit.query("page", "1")
    return max(1, int(text)) if text.isdigit() and len(text) < 7 else 1


async def topic_list(visit: Visit) -> Response:
    current = _page_number(visit)
    total, found = await visit.deps.messages.topics.page(
        visit.scope, "", (current - 1) * PAGE_SIZE, PAGE_SIZE
    )
    rows = []
    for topic in found:
        _, subscriptions = await visit.deps.messages.subscriptions.page(
            visit.scope, topic.name, "", 0, MAX_SUBSCRIPTIONS
        )
        rows.append((topic, subscriptions))
    return visit.page(
        "topics.html",
        rows=rows,
        total=total,
        number=current,
        pages=max(1, -(-total // PAGE_SIZE)),
        query="",
    )


async def create_topic(visit: Visit) -> Response:
    name = visit.text("name")
    await visit.deps.message_actions(
        "CreateTopic", visit.scope, {"topicName": name, "filterType": visit.text("filter", "1")}
    )
    return visit.done(f"{BASE}/topics/{name}", f"Created topic {name}.")


async def topic_page(visit: Visit) -> Response:
    name = visit.request.path_params["name"]
    topic = await visit.deps.message_actions("GetTopicAttributes", visit.scope, {"topicName": name})
    _, subscriptions = await visit.deps.messages.subscriptions.page(
        visit.scope, name, "", 0, MAX_SUBSCRIPTIONS
    )
    _, queues = await visit.deps.messages.queues.page(visit.scope, "", 0, 100)
    return visit.page(
        "topic.html",
        topic=topic,
        subscriptions=subscriptions,
        queues=[q.name for q in queues],
    )


async def subscribe(visit: Visit) -> Response:
    topic = visit.request.path_params["name"]
    protocol = visit.text("protocol", "queue")
    endpoint = visit.text("queue") if protocol == "queue" else visit.text("url")
    scalars = {
        "topicName": topic,
        "subscriptionName": visit.text("subscription"),
        "protocol": protocol,
        "endpoint": endpoint,
        "notifyStrategy": visit.text("strategy", "EXPONENTIAL_DECAY_RETRY"),
    }
    if protocol != "queue" and visit.text("format"):
        scalars["notifyContentFormat"] = visit.text("format")
    lists = {"filterTag": words(visit.text("tags")), "bindingKey": words(visit.text("keys"))}
    await visit.deps.message_actions(
        "Subscribe", visit.scope, scalars, {k: v for k, v in lists.items() if v}
    )
    return visit.done(
        f"{BASE}/topics/{topic}", f"Subscribed {scalars['subscriptionName']} to {topic}."
    )


async def unsubscribe(visit: Visit) -> Response:
    topic = visit.request.path_params["name"]
    name = visit.request.path_params["subscription"]
    await visit.deps.message_actions(
        "Unsubscribe", visit.scope, {"topicName": topic, "subscriptionName": name}
    )
    return visit.done(f"{BASE}/topics/{topic}", f"Removed subscription {name}.")


async def publish(visit: Visit) -> Response:
    topic = visit.request.path_params["name"]
    scalars = {"topicName": topic, "msgBody": str(visit.form.get("body", ""))}
    if visit.text("routing_key"):
        scalars["routingKey"] = visit.text("routing_key")
    tags = words(visit.text("tags"))
    answer = await visit.deps.message_actions(
        "PublishMessage", visit.scope, scalars, {"msgTag": tags} if tags else None
    )
    return visit.done(f"{BASE}/topics/{topic}", f"Published message {answer['msgId']}.")


async def delete_topic(visit: Visit) -> Response:
    topic = visit.request.path_params["name"]
    await visit.deps.message_actions("DeleteTopic", visit.scope, {"topicName": topic})
    return visit.done(f"{BASE}/topics", f"Deleted topic {topic}.")


async def dead_letters(visit: Visit) -> Response:
    current = _page_number(visit)
    topic = visit.query("topic") or None
    total, found = await visit.deps.messages.dead_letters(
        visit.scope, topic, (current - 1) * PAGE_SIZE, PAGE_SIZE
    )
    return visit.page(
        "dead_letters.html",
        deliveries=found,
        total=total,
        number=current,
        pages=max(1, -(-total // PAGE_SIZE)),
        query=f"topic={topic}" if topic else "",
    )


async def redrive(visit: Visit) -> Response:
    chosen = [str(value) for value in visit.form.getlist("delivery")]
    answer = await visit.deps.message_actions(
        "RedriveDeadLetterDeliveries", visit.scope, None, {"deliveryId": chosen} if chosen else None
    )
    return visit.done(f"{BASE}/dead-letters", f"Redriven: {answer['redrivenCount']} deliveries.")


def _topic(visit: Visit) -> str:
    return f"{BASE}/topics/{visit.request.path_params['name']}"


def routes(deps: Deps) -> list[Route]:
    return [
        Route("/topics", page(deps, topic_list)),
        Route("/topics", page(deps, create_topic, back=lambda _: f"{BASE}/topics"), methods=POST),
        Route("/topics/{name}", page(deps, topic_page)),
        Route("/topics/{name}/subscribe", page(deps, subscribe, back=_topic), methods=POST),
        Route(
            "/topics/{name}/subscriptions/{subscription}/delete",
            page(deps, unsubscribe, back=_topic),
            methods=POST,
        ),
        Route("/topics/{name}/publish", page(deps, publish, back=_topic), methods=POST),
        Route("/topics/{name}/delete", page(deps, delete_topic, back=_topic), methods=POST),
        Route("/dead-letters", page(deps, dead_letters)),
        Route(
            "/dead-letters/redrive",
            page(deps, redrive, back=lambda _: f"{BASE}/dead-letters"),
            methods=POST,
        ),
    ]
