"""The one table from batchd errors to CMQ codes, looked up along the exception's MRO."""

from __future__ import annotations

from batchd.domain import errors as e

# class -> (code, module code, text); %s is the parameter the error names.
CODES: dict[type[e.BatchdError], tuple[int, int, str]] = {
    e.BatchdError: (6000, 10050, "server internal error"),
    e.NotFound: (4440, 10100, "queue is not existed, or deleted"),
    e.QueueNotFound: (4440, 10100, "queue is not existed, or deleted"),
    e.TopicNotFound: (4440, 10600, "topic is not existed, or deleted"),
    e.SubscriptionNotFound: (4440, 10600, "subscription is not existed, or deleted"),
    e.DeadLetterNotFound: (4440, 10600, "delivery is not existed"),
    e.InvalidReceiptHandle: (4430, 10260, "receipt handle is invalid"),
    e.MissingParameter: (4000, 10390, "lacked of required parameter %s"),
    e.InvalidParameter: (4000, 10000, "invalid request parameters"),
    e.UnknownAction: (4000, 10430, "action name %s is not existed"),
    e.UnknownParameter: (4000, 10320, "no such parameter %s"),
    e.ParameterNotRepeatable: (4000, 10330, "parameter %s is NOT a repeatable parameter"),
    e.ParameterNotConsecutive: (4000, 10380, "%s parameter is not consequent"),
    e.ParameterTypeError: (4000, 10360, "parameter %s error type"),
    e.UnsupportedMethod: (4000, 10410, "unexpected http %s only GET or POST is supported"),
    e.MalformedBody: (4000, 10420, "cannot parse %s, or request size is more than 1MB"),
    e.MalformedParameterName: (4000, 10310, "error: parameter %s key format error"),
    e.InvalidParameterValue: (4000, 10350, "parameter %s value or length is out of range"),
    e.InvalidQueueName: (4000, 10020, "queue name format error"),
    e.InvalidTopicName: (4000, 10590, "topic name format error"),
    e.InvalidSubscriptionName: (4000, 10590, "subscription name format error"),
    e.EmptyMessageBody: (4000, 10120, "message body can't be empty"),
    e.DelayOutOfRange: (4000, 10692, "delay seconds is out of range"),
    e.BatchSizeOutOfRange: (4000, 10370, "%s parameter batch size is out of range"),
    e.MalformedReceiptHandle: (4000, 10470, "receiptHandle error"),
    e.InvalidEndpoint: (4000, 10500, "endpoint format error"),
    e.InvalidProtocol: (4000, 10510, "undefined protocol"),
    e.InvalidNotifyStrategy: (4000, 10520, "undefined notify retry stragety"),
    e.InvalidContentFormat: (4000, 10530, "undefined notify content format"),
    e.QueueSubscriptionNotSimplified: (
        4000,
        10640,
        "notifyContentFormat of protocol queue must be SIMPLIFIED",
    ),
    e.TooManyFilterTags: (4000, 10670, "too many filterTag"),
    e.TooManyBindingKeys: (4000, 10680, "too many bindingKey"),
    e.TooManyDelimiters: (4000, 10691, "too many delimeters"),
    e.TooManyMessageTags: (4000, 10720, "too many msgTag"),
    e.MissingBindingKey: (4000, 10710, "parameters lack of bindingKey"),
    e.InvalidRewindTime: (
        4000,
        10680,
        "invalid rewind time, you can get the vaild range of that via GetQueueAttributes",
    ),
    e.RewindBeyondRetention: (
        4000,
        10700,
        "rewindSeconds cannot be greater than msgRetentionSeconds",
    ),
    e.LimitExceeded: (4000, 10350, "parameter %s value or length is out of range"),
    e.MessageTooLarge: (4400, 10230, "exceed maximum message size"),
    e.BatchTooLarge: (4470, 10300, "total message size exceed 1MB"),
    e.QueueFull: (4410, 10240, "reach maximum retention number of message"),
    e.QueueQuotaReached: (4450, 10220, "number of queues has reached the limit"),
    e.TopicQuotaReached: (4450, 10610, "number of topics has reached the limit"),
    e.SubscriptionQuotaReached: (4500, 10480, "number of subscription has reached the limit"),
    e.ResourceInUse: (4000, 10000, "invalid request parameters"),
    e.QueueExists: (4000, 4460, "queue is already existed,case insensitive"),
    e.TopicExists: (4000, 4460, "topic is already existed"),
    e.SubscriptionExists: (4490, 10470, "subscribtion is already existed"),
    e.TopicHasSubscriptions: (
        4000,
        10540,
        "there exists subscriptions under this topic, please unsubscribe all of them "
        "before DeleteTopic",
    ),
    e.PreconditionFailed: (4000, 10000, "invalid request parameters"),
    e.TopicWithoutSubscription: (
        6030,
        10650,
        "topic has no subscription, please create a subscription before publishing message",
    ),
    e.NoSubscriptionMatched: (
        6030,
        10730,
        "no bindingKey or filterTag matches the routingKey or msgTag",
    ),
    e.RewindDisabled: (6050, 10670, "your queue cannot be rewinded"),
    e.AuthFailure: (4100, 10030, "authentication failed"),
    e.UnknownSecretId: (4100, 10270, "secret id is not existed"),
    e.Unauthorized: (4100, 10030, "authentication failed"),
    e.RateLimited: (4420, 10250, "qps throttling"),
    e.Unsupported: (4000, 10000, "invalid request parameters"),
    e.StoreUnavailable: (6000, 10050, "server internal error"),
}

INTERNAL = CODES[e.BatchdError]
NO_MESSAGE = (7000, 10200, "no message")
PARTIAL_DELETE = (6010, 10150, "delete message partially failed")


def lookup(error: e.BatchdError) -> tuple[int, int, str]:
    for cls in type(error).__mro__:
        if cls in CODES:
            return CODES[cls]
    return INTERNAL


def render(error: e.BatchdError, parameter: str | None = None) -> tuple[int, str]:
    """(code, message) for an error: `(<module>)<CMQ text>`, then batchd's hint."""
    code, module, text = lookup(error)
    if "%s" in text:
        text = text % (parameter or error.parameter or "")
    if error.message and error.message != text:
        text = f"{text}: {error.message}"
    return code, f"({module}){text}"
