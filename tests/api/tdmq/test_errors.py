"""Bad input to the TDMQ actions answers its API 3.0 code, through the official client, and
stores nothing; routing by version names the API (tdmq-api.md §1)."""

from __future__ import annotations

from typing import Any

import pytest
from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from tests.api.tdmq.client import Tdmq
from tests.support import RunningServer


def common_call(
    server: RunningServer,
    service: str,
    version: str,
    action: str,
    params: dict[str, Any],
    secret_key: str | None = None,
) -> TencentCloudSDKException:
    """The error the SDK's CommonClient (any service, version and action) gets."""
    cred = credential.Credential(
        server.credential.secret_id, secret_key or server.credential.secret_key
    )
    http = HttpProfile(endpoint=server.host, protocol="http")
    client = CommonClient(service, version, cred, "ap-guangzhou", ClientProfile(httpProfile=http))
    with pytest.raises(TencentCloudSDKException) as caught:
        client.call_json(action, params)
    return caught.value


def queue_names(tdmq: Tdmq) -> list[str]:
    return [queue.QueueName for queue in tdmq("DescribeCmqQueues").QueueList]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"QueueName": "q", "VisibilityTimeout": 0}, "InvalidParameterValue.VisibilityTimeout"),
        ({"QueueName": "q", "MaxMsgSize": 10**7}, "InvalidParameterValue.MaxMsgSize"),
        ({"QueueName": "q", "PollingWaitSeconds": 31}, "InvalidParameterValue.PollingWaitSeconds"),
        ({"QueueName": "1-starts-with-a-digit"}, "InvalidParameterValue.QueueName"),
        (
            {"QueueName": "q", "DeadLetterQueueName": "d", "Policy": 7},
            "InvalidParameterValue.Policy",
        ),
        ({"QueueName": "q", "Transaction": 1}, "UnsupportedOperation"),
        ({"QueueName": "q", "Tags": [{"TagKey": "k", "TagValue": "v"}]}, "UnsupportedOperation"),
        ({"VisibilityTimeout": 30}, "MissingParameter"),
    ],
)
def test_a_refused_queue_is_not_stored(
    server: RunningServer, fields: dict[str, Any], code: str
) -> None:
    tdmq = Tdmq(server)

    assert tdmq.error("CreateCmqQueue", **fields).code == code
    assert queue_names(tdmq) == []


def test_names_in_use_and_missing_resources(server: RunningServer) -> None:
    tdmq = Tdmq(server)
    tdmq("CreateCmqQueue", QueueName="q")
    tdmq("CreateCmqTopic", TopicName="t")
    subscribe = {
        "TopicName": "t",
        "SubscriptionName": "s",
        "Protocol": "queue",
        "Endpoint": "q",
        "NotifyContentFormat": "SIMPLIFIED",
    }
    tdmq("CreateCmqSubscribe", **subscribe)

    assert tdmq.error("CreateCmqQueue", QueueName="Q").code == "ResourceInUse.Queue"
    assert tdmq.error("CreateCmqTopic", TopicName="t").code == "ResourceInUse.Topic"
    assert tdmq.error("CreateCmqSubscribe", **subscribe).code == "ResourceInUse.Subscription"
    assert tdmq.error("DeleteCmqTopic", TopicName="t").code == "ResourceInUse"
    assert tdmq.error("DescribeCmqQueueDetail", QueueName="none").code == "ResourceNotFound"
    assert tdmq.error("SendCmqMsg", QueueName="none", MsgContent="x", DelaySeconds=0).code == (
        "ResourceNotFound"
    )
    assert tdmq.error("DescribeCmqTopicDetail", TopicName="none").code == "ResourceNotFound.Topic"
    assert (
        tdmq.error("DeleteCmqSubscribe", TopicName="t", SubscriptionName="none").code
        == "ResourceNotFound.Subscription"
    )
    assert tdmq.error("DescribeCmqQueues", Limit=51).code == "InvalidParameterValue.Limit"
    assert (
        tdmq.error("SendCmqMsg", QueueName="q", MsgContent="", DelaySeconds=0).code
        == "InvalidParameterValue.MsgContent"
    )
    assert (
        tdmq.error("SendCmqMsg", QueueName="q", MsgContent="x", DelaySeconds=-1).code
        == "InvalidParameterValue.DelaySeconds"
    )
    assert tdmq("DescribeCmqQueueDetail", QueueName="q").QueueDescribe.ActiveMsgNum == 0
    assert tdmq("DescribeCmqTopics").TotalCount == 1


def test_routing_by_version_names_the_api(server: RunningServer) -> None:
    not_cmq = common_call(server, "tdmq", "2020-02-17", "DescribeClusters", {})
    unknown = common_call(server, "tdmq", "2020-02-17", "DescribeCmqNothing", {})
    batch_action = common_call(server, "tdmq", "2020-02-17", "DescribeJobs", {})
    no_version = common_call(server, "tdmq", "2099-01-01", "DescribeCmqQueues", {})

    assert (not_cmq.code, "CMQ actions" in not_cmq.message) == ("UnsupportedOperation", True)
    assert unknown.code == "InvalidAction"
    assert "TDMQ API version 2020-02-17" in unknown.message
    assert batch_action.code == "InvalidAction"
    assert no_version.code == "NoSuchVersion"


def test_signatures_are_still_checked(server: RunningServer) -> None:
    wrong_key = common_call(
        server, "tdmq", "2020-02-17", "DescribeCmqQueues", {}, secret_key="wrong"
    )
    # A scope for another product than the version's is refused, key or not.
    wrong_service = common_call(server, "batch", "2020-02-17", "DescribeCmqQueues", {})

    assert wrong_key.code == "AuthFailure.SignatureFailure"
    assert wrong_service.code == "AuthFailure.SignatureFailure"
