"""An HTTP subscription made with the official SDK gets published messages pushed to it."""

from __future__ import annotations

import json
from typing import Any

from tests.endpoint import RecordingEndpoint
from tests.support import RunningServer, wait_until


def test_publish_pushes_to_an_http_subscriber(server: RunningServer, account: Any) -> None:
    from cmq.subscription import SubscriptionMeta
    from cmq.topic import Message, TopicMeta

    with RecordingEndpoint() as endpoint:
        account.get_topic("job-message").create(TopicMeta())
        meta = SubscriptionMeta()
        meta.Protocal, meta.Endpoint = "http", endpoint.url
        account.get_subscription("job-message", "hook").create(meta)
        msg_id = account.get_topic("job-message").publish_message(Message("event body")).msgId
        wait_until(lambda: len(endpoint.received) == 1)
    pushed = json.loads(endpoint.received[0].body)
    assert pushed["msgId"] == msg_id
    assert pushed["msgBody"] == "event body"
    assert pushed["topicName"] == "job-message"
    assert pushed["subscriptionName"] == "hook"
    assert pushed["TopicOwner"] == server.credential.app_id
