"""Identifier types and their generation from a caller-supplied source of randomness."""

from __future__ import annotations

import secrets
import string
from typing import NewType

QueueId = NewType("QueueId", str)
TopicId = NewType("TopicId", str)
SubscriptionId = NewType("SubscriptionId", str)
MessageId = NewType("MessageId", str)

_ALPHABET = string.ascii_lowercase + string.digits


def random_suffix(length: int = 8) -> str:
    """Lowercase letters and digits, as every resource id of DESIGN.md uses."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_queue_id() -> QueueId:
    return QueueId(f"queue-{random_suffix()}")


def new_topic_id() -> TopicId:
    return TopicId(f"topic-{random_suffix()}")


def new_subscription_id() -> SubscriptionId:
    return SubscriptionId(f"subscription-{random_suffix()}")


def new_message_id() -> MessageId:
    # Long enough that ids never repeat across the life of a deployment.
    return MessageId(f"msg-{secrets.token_hex(10)}")


def new_receipt_token() -> str:
    """The unguessable half of a receipt handle."""
    return secrets.token_hex(8)


JobId = NewType("JobId", str)
EnvId = NewType("EnvId", str)
NodeId = NewType("NodeId", str)


def new_job_id() -> JobId:
    return JobId(f"job-{random_suffix()}")


def new_env_id() -> EnvId:
    return EnvId(f"env-{random_suffix()}")


def new_node_id() -> NodeId:
    return NodeId(f"node-{random_suffix()}")


def new_instance_id() -> str:
    """The id of a node's machine (`ins-…`)."""
    return f"ins-{random_suffix()}"


def new_activity_id() -> str:
    return f"act-{random_suffix()}"


def new_task_template_id() -> str:
    return f"task-tmpl-{random_suffix()}"
