"""The one error tree of batchd; protocol layers map these classes to their own codes.

BatchdError
├── NotFound                      a named resource does not exist (in this account and region)
│   ├── QueueNotFound
│   ├── TopicNotFound
│   ├── SubscriptionNotFound
│   ├── DeadLetterNotFound
│   ├── AccountNotFound, ApiKeyNotFound
│   └── InvalidReceiptHandle       unknown, superseded or expired receipt handle
├── MissingParameter              a required parameter is absent
├── InvalidParameter              the request is malformed (not a bad value)
│   ├── UnknownAction
│   ├── UnknownParameter
│   ├── ParameterNotRepeatable
│   ├── ParameterNotConsecutive
│   ├── ParameterTypeError
│   ├── UnsupportedMethod
│   ├── MalformedBody
│   └── MalformedParameterName
├── InvalidParameterValue         a parameter has a value outside its rules
│   ├── InvalidQueueName, InvalidTopicName, InvalidSubscriptionName
│   ├── EmptyMessageBody, DelayOutOfRange, BatchSizeOutOfRange, MalformedReceiptHandle
│   ├── InvalidEndpoint, InvalidProtocol, InvalidNotifyStrategy, InvalidContentFormat
│   ├── QueueSubscriptionNotSimplified
│   ├── TooManyFilterTags, TooManyBindingKeys, TooManyDelimiters, TooManyMessageTags
│   ├── MissingBindingKey
│   ├── InvalidRewindTime, RewindBeyondRetention
├── LimitExceeded                 a size or count limit is reached
│   ├── MessageTooLarge, BatchTooLarge, QueueFull
│   ├── QueueQuotaReached, TopicQuotaReached, SubscriptionQuotaReached
├── ResourceInUse                 the resource exists or is busy
│   ├── QueueExists, TopicExists, SubscriptionExists, TopicHasSubscriptions, AccountExists
├── PreconditionFailed            the request is valid but the resource's state refuses it
│   ├── TopicWithoutSubscription, NoSubscriptionMatched, RewindDisabled
├── AuthFailure                   the caller could not be authenticated
│   ├── UnknownSecretId, SignatureMismatch, RequestExpired, NonceReplayed, TokenUnsupported
│   └── Unauthorized               authenticated, but the account may not do this
├── RateLimited                   the key sent more requests than its rate allows
├── Unsupported                   valid elsewhere, not offered by batchd
└── StoreUnavailable              the database could not be reached or stayed locked
"""

from __future__ import annotations


class BatchdError(Exception):
    """Base of every error batchd reports to a caller.

    `tc3_code` names a specific Batch API error code (`ResourceNotFound.Job`) where the class
    alone is too coarse; empty means "use the class's code". Set it per class or pass `code=`.
    """

    default_message = "request failed"
    tc3_code: str = ""

    def __init__(
        self,
        message: str | None = None,
        *,
        parameter: str | None = None,
        resource: str | None = None,
        code: str | None = None,
    ) -> None:
        self.parameter = parameter
        self.resource = resource
        if code:
            self.tc3_code = code
        super().__init__(message or self.default_message)

    @property
    def message(self) -> str:
        return str(self)


# --- not found -------------------------------------------------------------------------------


class NotFound(BatchdError):
    default_message = "resource does not exist"


class QueueNotFound(NotFound):
    default_message = "queue does not exist; list queues to see the names in this region"


class TopicNotFound(NotFound):
    default_message = "topic does not exist; list topics to see the names in this region"


class SubscriptionNotFound(NotFound):
    default_message = "subscription does not exist on this topic"


class DeadLetterNotFound(NotFound):
    default_message = "dead-lettered delivery does not exist"


class AccountNotFound(NotFound):
    default_message = "account does not exist: `batchd account list` shows them"


class ApiKeyNotFound(NotFound):
    default_message = "API key does not exist: `batchd key list` shows them"


class InvalidReceiptHandle(NotFound):
    default_message = "receipt handle is invalid: receive the message again to get a fresh handle"


# --- malformed requests ----------------------------------------------------------------------


class MissingParameter(BatchdError):
    default_message = "a required parameter is missing"


class InvalidParameter(BatchdError):
    default_message = "the request is malformed"


class UnknownAction(InvalidParameter):
    default_message = "unknown action"


class UnknownParameter(InvalidParameter):
    default_message = "unknown parameter"


class ParameterNotRepeatable(InvalidParameter):
    default_message = "parameter is not repeatable"


class ParameterNotConsecutive(InvalidParameter):
    default_message = "numbered parameters must be consecutive"


class ParameterTypeError(InvalidParameter):
    default_message = "parameter has the wrong type"


class UnsupportedMethod(InvalidParameter):
    default_message = "only GET and POST are supported"


class MalformedBody(InvalidParameter):
    default_message = "the request body cannot be parsed or is larger than 1 MB"


class MalformedParameterName(InvalidParameter):
    default_message = "parameter names are letters and digits, lists are name.n"


# --- bad values ------------------------------------------------------------------------------


class InvalidParameterValue(BatchdError):
    default_message = "parameter value or length is out of range"


class InvalidQueueName(InvalidParameterValue):
    default_message = "queue name must be 1-64 letters, digits, '-' or '_', starting with a letter"


class InvalidTopicName(InvalidParameterValue):
    default_message = "topic name must be 1-64 letters, digits, '-' or '_', starting with a letter"


class InvalidSubscriptionName(InvalidParameterValue):
    default_message = (
        "subscription name must be 1-64 letters, digits, '-' or '_', starting with a letter"
    )


class EmptyMessageBody(InvalidParameterValue):
    default_message = "message body can't be empty"


class DelayOutOfRange(InvalidParameterValue):
    default_message = "delay seconds must be between 0 and 3600"


class BatchSizeOutOfRange(InvalidParameterValue):
    default_message = "a batch holds 1 to 16 items"


class MalformedReceiptHandle(InvalidParameterValue):
    default_message = "receipt handle must be a non-empty string"


class InvalidEndpoint(InvalidParameterValue):
    default_message = "endpoint must be an http:// or https:// URL without blanks, or a queue name"


class InvalidProtocol(InvalidParameterValue):
    default_message = "protocol must be 'http' or 'queue'"


class InvalidNotifyStrategy(InvalidParameterValue):
    default_message = "notifyStrategy must be BACKOFF_RETRY or EXPONENTIAL_DECAY_RETRY"


class InvalidContentFormat(InvalidParameterValue):
    default_message = "notifyContentFormat must be JSON or SIMPLIFIED"


class QueueSubscriptionNotSimplified(InvalidParameterValue):
    default_message = "notifyContentFormat of protocol queue must be SIMPLIFIED"


class TooManyFilterTags(InvalidParameterValue):
    default_message = "at most 5 filter tags of at most 16 characters each"


class TooManyBindingKeys(InvalidParameterValue):
    default_message = "at most 5 binding keys of at most 64 bytes each"


class TooManyDelimiters(InvalidParameterValue):
    default_message = "a routing or binding key has at most 15 dots"


class TooManyMessageTags(InvalidParameterValue):
    default_message = "at most 5 message tags of at most 16 characters each"


class MissingBindingKey(InvalidParameterValue):
    default_message = "a topic with routing-key filtering needs bindingKey on Subscribe"


class InvalidRewindTime(InvalidParameterValue):
    default_message = (
        "invalid rewind time, you can get the valid range of that via GetQueueAttributes"
    )


class RewindBeyondRetention(InvalidParameterValue):
    default_message = "rewindSeconds cannot be greater than msgRetentionSeconds"


# --- limits ----------------------------------------------------------------------------------


class LimitExceeded(BatchdError):
    default_message = "limit exceeded"


class MessageTooLarge(LimitExceeded):
    default_message = "message is larger than the queue's or topic's maxMsgSize"


class BatchTooLarge(LimitExceeded):
    default_message = "total message size of a batch exceeds the limit"


class QueueFull(LimitExceeded):
    default_message = "queue holds maxMsgHeapNum messages: consume some or raise the limit"


class QueueQuotaReached(LimitExceeded):
    default_message = "number of queues has reached the limit"


class TopicQuotaReached(LimitExceeded):
    default_message = "number of topics has reached the limit"


class SubscriptionQuotaReached(LimitExceeded):
    default_message = "number of subscriptions of this topic has reached the limit"


# --- conflicts and preconditions -------------------------------------------------------------


class ResourceInUse(BatchdError):
    default_message = "resource is in use"


class QueueExists(ResourceInUse):
    default_message = "queue already exists (names are compared case-insensitively)"


class TopicExists(ResourceInUse):
    default_message = "topic already exists"


class SubscriptionExists(ResourceInUse):
    default_message = "subscription already exists on this topic"


class AccountExists(ResourceInUse):
    default_message = "an account of this name exists already"


class TopicHasSubscriptions(ResourceInUse):
    default_message = "the topic has subscriptions: unsubscribe all of them before deleting it"


class PreconditionFailed(BatchdError):
    default_message = "the resource's state refuses this request"


class TopicWithoutSubscription(PreconditionFailed):
    default_message = "topic has no subscription, create a subscription before publishing"


class NoSubscriptionMatched(PreconditionFailed):
    default_message = "no bindingKey or filterTag matches the routingKey or msgTag"


class RewindDisabled(PreconditionFailed):
    default_message = "the queue cannot be rewound: set rewindSeconds above 0 first"


# --- authentication --------------------------------------------------------------------------


class AuthFailure(BatchdError):
    default_message = "authentication failed"


class UnknownSecretId(AuthFailure):
    default_message = "secret id does not exist: check the credentials file"


class SignatureMismatch(AuthFailure):
    default_message = "signature does not match: check SecretKey and the endpoint host"


class RequestExpired(AuthFailure):
    default_message = "timestamp is too far from server time: check the client clock"


class NonceReplayed(AuthFailure):
    default_message = "this nonce was already used: send each request with a new nonce"


class TokenUnsupported(AuthFailure):
    default_message = "temporary credentials (Token) are not supported: use a SecretId/SecretKey"


class Unauthorized(AuthFailure):
    default_message = "this key's account may not do that: ask the administrator"


class RateLimited(BatchdError):
    default_message = "too many requests with this key: slow down and retry"


# --- the rest --------------------------------------------------------------------------------


class Unsupported(BatchdError):
    default_message = "not supported by batchd"


class StoreUnavailable(BatchdError):
    default_message = "the database is unavailable; retry shortly"
