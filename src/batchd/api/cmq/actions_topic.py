"""CMQ topic and subscription actions: create, attributes, delete and list both, and publish."""

from __future__ import annotations

from batchd.api.cmq.actions_common import (
    MAX_LIST_LIMIT,
    Action,
    Reply,
    action,
    message_bodies,
    paging,
    seconds,
)
from batchd.api.cmq.params import Params
from batchd.domain.scope import Scope
from batchd.mq.service import MessageService

ACTIONS: dict[str, Action] = {}


# --- topics ----------------------------------------------------------------------------------


@action(ACTIONS, "CreateTopic", ("topicName", "maxMsgSize", "filterType"))
async def create_topic(svc: MessageService, scope: Scope, p: Params) -> Reply:
    topic = await svc.topics.create(
        scope, p.text("topicName"), p.integer("maxMsgSize", 65_536), p.integer("filterType", 1)
    )
    return Reply({"topicId": topic.topic_id})


@action(ACTIONS, "SetTopicAttributes", ("topicName", "maxMsgSize"))
async def set_topic_attributes(svc: MessageService, scope: Scope, p: Params) -> Reply:
    await svc.topics.set_attributes(scope, p.text("topicName"), p.optional_integer("maxMsgSize"))
    return Reply()


@action(ACTIONS, "GetTopicAttributes", ("topicName",))
async def get_topic_attributes(svc: MessageService, scope: Scope, p: Params) -> Reply:
    topic, held = await svc.topics.get(scope, p.text("topicName"))
    return Reply(
        {
            "topicName": topic.name,
            "topicId": topic.topic_id,
            "msgCount": held,
            "maxMsgSize": topic.max_msg_size,
            "msgRetentionSeconds": 86_400,
            "createTime": seconds(topic.created_ms),
            "lastModifyTime": seconds(topic.modified_ms),
            "filterType": int(topic.filter_type),
        }
    )


@action(ACTIONS, "DeleteTopic", ("topicName",))
async def delete_topic(svc: MessageService, scope: Scope, p: Params) -> Reply:
    await svc.topics.delete(scope, p.text("topicName"))
    return Reply()


@action(ACTIONS, "ListTopic", ("searchWord", "offset", "limit"))
async def list_topic(svc: MessageService, scope: Scope, p: Params) -> Reply:
    search, offset, limit = paging(p, MAX_LIST_LIMIT)
    total, found = await svc.topics.page(scope, search, offset, limit)
    return Reply(
        {
            "totalCount": total,
            "topicList": [{"topicId": t.topic_id, "topicName": t.name} for t in found],
        }
    )


def _tags(p: Params) -> list[str]:
    return p.items("msgTag") or []


@action(ACTIONS, "PublishMessage", ("topicName", "msgBody", "routingKey"), ("msgTag",))
async def publish_message(svc: MessageService, scope: Scope, p: Params) -> Reply:
    (msg_id,) = await svc.publisher.publish(
        scope, p.text("topicName"), [p.text("msgBody")], _tags(p), p.text("routingKey", "")
    )
    return Reply({"msgId": msg_id})


@action(ACTIONS, "BatchPublishMessage", ("topicName", "routingKey"), ("msgBody", "msgTag"))
async def batch_publish_message(svc: MessageService, scope: Scope, p: Params) -> Reply:
    name = p.text("topicName")
    msg_ids = await svc.publisher.publish(
        scope, name, message_bodies(p), _tags(p), p.text("routingKey", "")
    )
    return Reply({"msgList": [{"msgId": msg_id} for msg_id in msg_ids]})


# --- subscriptions ---------------------------------------------------------------------------

_SUBSCRIPTION = ("topicName", "subscriptionName")


@action(
    ACTIONS,
    "Subscribe",
    (*_SUBSCRIPTION, "protocol", "endpoint", "notifyStrategy", "notifyContentFormat"),
    ("filterTag", "bindingKey"),
)
async def subscribe(svc: MessageService, scope: Scope, p: Params) -> Reply:
    subscription = await svc.subscriptions.subscribe(
        scope,
        p.text("topicName"),
        p.text("subscriptionName"),
        protocol=p.text("protocol"),
        endpoint=p.text("endpoint"),
        notify_strategy=p.text("notifyStrategy", "EXPONENTIAL_DECAY_RETRY"),
        content_format=p.optional_text("notifyContentFormat"),
        filter_tags=p.items("filterTag") or [],
        binding_keys=p.items("bindingKey") or [],
    )
    return Reply({"subscriptionId": subscription.subscription_id})


@action(ACTIONS, "Unsubscribe", _SUBSCRIPTION)
async def unsubscribe(svc: MessageService, scope: Scope, p: Params) -> Reply:
    await svc.subscriptions.unsubscribe(scope, p.text("topicName"), p.text("subscriptionName"))
    return Reply()


@action(ACTIONS, "ListSubscriptionByTopic", ("topicName", "searchWord", "offset", "limit"))
async def list_subscription_by_topic(svc: MessageService, scope: Scope, p: Params) -> Reply:
    search, offset, limit = paging(p, 100, max_offset=1000)
    total, found = await svc.subscriptions.page(scope, p.text("topicName"), search, offset, limit)
    return Reply(
        {
            "totalCount": total,
            "subscriptionList": [
                {
                    "subscriptionId": s.subscription_id,
                    "subscriptionName": s.name,
                    "protocol": str(s.protocol),
                    "endpoint": s.endpoint,
                }
                for s in found
            ],
        }
    )


@action(ACTIONS, "GetSubscriptionAttributes", _SUBSCRIPTION)
async def get_subscription_attributes(svc: MessageService, scope: Scope, p: Params) -> Reply:
    subscription, pending = await svc.subscriptions.get(
        scope, p.text("topicName"), p.text("subscriptionName")
    )
    return Reply(
        {
            "topicOwner": scope.account,
            "msgCount": pending,
            "protocol": str(subscription.protocol),
            "protocal": str(subscription.protocol),  # the SDK reads this misspelling
            "endpoint": subscription.endpoint,
            "notifyStrategy": str(subscription.notify_strategy),
            "notifyContentFormat": str(subscription.content_format),
            "createTime": seconds(subscription.created_ms),
            "lastModifyTime": seconds(subscription.modified_ms),
            "filterTags": list(subscription.filter.filter_tags),
            "bindingKey": list(subscription.filter.binding_keys),
        }
    )


@action(
    ACTIONS,
    "SetSubscriptionAttributes",
    (*_SUBSCRIPTION, "notifyStrategy", "notifyContentFormat"),
    ("filterTag", "bindingKey"),
)
async def set_subscription_attributes(svc: MessageService, scope: Scope, p: Params) -> Reply:
    await svc.subscriptions.set_attributes(
        scope,
        p.text("topicName"),
        p.text("subscriptionName"),
        notify_strategy=p.optional_text("notifyStrategy"),
        content_format=p.optional_text("notifyContentFormat"),
        filter_tags=p.items("filterTag"),
        binding_keys=p.items("bindingKey"),
    )
    return Reply()


@action(ACTIONS, "ClearSubscriptionFilterTags", _SUBSCRIPTION)
async def clear_subscription_filter_tags(svc: MessageService, scope: Scope, p: Params) -> Reply:
    await svc.subscriptions.set_attributes(
        scope,
        p.text("topicName"),
        p.text("subscriptionName"),
        notify_strategy=None,
        content_format=None,
        filter_tags=[],
        binding_keys=None,
    )
    return Reply()
