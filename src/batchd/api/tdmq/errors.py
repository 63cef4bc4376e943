"""The TDMQ API's error codes for batchd errors: the Batch API's table (`tc3.errors`), with the
codes a TDMQ user sees for queues, topics and subscriptions (tdmq-api.md §2), looked up along
the exception's MRO. A value out of range answers `InvalidParameterValue.<Field>`."""

from __future__ import annotations

from batchd.api.tc3 import errors as tc3_errors
from batchd.domain import errors as e

CODES: dict[type[e.BatchdError], str] = {
    e.QueueNotFound: "ResourceNotFound",
    e.TopicNotFound: "ResourceNotFound.Topic",
    e.SubscriptionNotFound: "ResourceNotFound.Subscription",
    e.QueueExists: "ResourceInUse.Queue",
    e.TopicExists: "ResourceInUse.Topic",
    e.SubscriptionExists: "ResourceInUse.Subscription",
    e.TopicHasSubscriptions: "ResourceInUse",
    e.QueueQuotaReached: "LimitExceeded",
    e.TopicQuotaReached: "LimitExceeded.Topics",
    e.SubscriptionQuotaReached: "LimitExceeded.Subscriptions",
    e.InvalidTopicName: "InvalidParameterValue",
    # the request is valid, the resource's state refuses it
    e.PreconditionFailed: "ResourceUnavailable",
}

# The TDMQ spelling of parameters the message service names its own (CMQ 2.0) way.
_FIELD_NAMES = {"msgBody": "MsgContent", "policy": "Policy", "filterTag": "FilterTag"}


def field_name(parameter: str) -> str:
    """`visibility_timeout` or `visibilityTimeout` -> `VisibilityTimeout`."""
    if parameter in _FIELD_NAMES:
        return _FIELD_NAMES[parameter]
    if "_" in parameter:
        return "".join(part.capitalize() for part in parameter.split("_"))
    return parameter[:1].upper() + parameter[1:]


def code_for(error: e.BatchdError) -> str:
    """The TDMQ API code to answer for `error`."""
    if error.tc3_code:
        return error.tc3_code
    for cls in type(error).__mro__:
        if cls in CODES:
            code = CODES[cls]
            break
    else:
        code = tc3_errors.code_for(error)
    if code == "InvalidParameterValue" and error.parameter:
        return f"{code}.{field_name(error.parameter)}"
    return code
