"""The one table from batchd errors to Batch API error codes, looked up along the exception's MRO.

An error that carries a specific product code (`error.tc3_code`, e.g. `ResourceNotFound.Job`)
answers that code; otherwise its class decides. Codes: batch-api.md §1.4 and §6.
"""

from __future__ import annotations

from batchd.domain import errors as e

INTERNAL = "InternalError"

CODES: dict[type[e.BatchdError], str] = {
    e.BatchdError: INTERNAL,
    e.NotFound: "ResourceNotFound",
    e.QueueNotFound: "ResourceNotFound",
    e.TopicNotFound: "ResourceNotFound",
    e.SubscriptionNotFound: "ResourceNotFound",
    e.DeadLetterNotFound: "ResourceNotFound",
    e.InvalidReceiptHandle: "ResourceNotFound",
    e.MissingParameter: "MissingParameter",
    e.InvalidParameter: "InvalidParameter",
    e.UnknownAction: "InvalidAction",
    e.UnknownParameter: "UnknownParameter",
    e.ParameterNotRepeatable: "InvalidParameter",
    e.ParameterNotConsecutive: "InvalidParameter",
    e.ParameterTypeError: "InvalidParameter",
    e.UnsupportedMethod: "UnsupportedProtocol",
    e.MalformedBody: "InvalidParameter",
    e.MalformedParameterName: "InvalidParameter",
    e.InvalidParameterValue: "InvalidParameterValue",
    e.InvalidQueueName: "InvalidParameterValue",
    # the only topic names the Batch API takes are those of Notifications
    e.InvalidTopicName: "InvalidParameter.NotificationTopicName",
    e.InvalidSubscriptionName: "InvalidParameterValue",
    e.EmptyMessageBody: "InvalidParameterValue",
    e.DelayOutOfRange: "InvalidParameterValue",
    e.BatchSizeOutOfRange: "InvalidParameterValue",
    e.MalformedReceiptHandle: "InvalidParameterValue",
    e.InvalidEndpoint: "InvalidParameterValue",
    e.InvalidProtocol: "InvalidParameterValue",
    e.InvalidNotifyStrategy: "InvalidParameterValue",
    e.InvalidContentFormat: "InvalidParameterValue",
    e.QueueSubscriptionNotSimplified: "InvalidParameterValue",
    e.TooManyFilterTags: "InvalidParameterValue",
    e.TooManyBindingKeys: "InvalidParameterValue",
    e.TooManyDelimiters: "InvalidParameterValue",
    e.TooManyMessageTags: "InvalidParameterValue",
    e.MissingBindingKey: "InvalidParameterValue",
    e.InvalidRewindTime: "InvalidParameterValue",
    e.RewindBeyondRetention: "InvalidParameterValue",
    e.LimitExceeded: "LimitExceeded",
    e.MessageTooLarge: "LimitExceeded",
    e.BatchTooLarge: "LimitExceeded",
    e.QueueFull: "LimitExceeded",
    e.QueueQuotaReached: "LimitExceeded",
    e.TopicQuotaReached: "LimitExceeded",
    e.SubscriptionQuotaReached: "LimitExceeded",
    e.ResourceInUse: "ResourceInUse",
    e.QueueExists: "ResourceInUse",
    e.TopicExists: "ResourceInUse",
    e.SubscriptionExists: "ResourceInUse",
    e.TopicHasSubscriptions: "ResourceInUse",
    # valid request, but the resource's state refuses it
    e.PreconditionFailed: "UnsupportedOperation",
    e.TopicWithoutSubscription: "UnsupportedOperation",
    e.NoSubscriptionMatched: "UnsupportedOperation",
    e.RewindDisabled: "UnsupportedOperation",
    e.AuthFailure: "AuthFailure.InvalidAuthorization",
    e.UnknownSecretId: "AuthFailure.SecretIdNotFound",
    e.SignatureMismatch: "AuthFailure.SignatureFailure",
    e.RequestExpired: "AuthFailure.SignatureExpire",
    e.NonceReplayed: "AuthFailure.InvalidAuthorization",
    e.TokenUnsupported: "AuthFailure.TokenFailure",
    e.Unauthorized: "AuthFailure.UnauthorizedOperation",
    e.RateLimited: "RequestLimitExceeded",
    e.AccountNotFound: "ResourceNotFound",
    e.ApiKeyNotFound: "ResourceNotFound",
    e.AccountExists: "ResourceInUse",
    e.Unsupported: "UnsupportedOperation",
    e.StoreUnavailable: INTERNAL,
}


def code_for(error: e.BatchdError) -> str:
    """The Batch API code to answer for `error`."""
    if error.tc3_code:
        return error.tc3_code
    for cls in type(error).__mro__:
        if cls in CODES:
            return CODES[cls]
    return INTERNAL
