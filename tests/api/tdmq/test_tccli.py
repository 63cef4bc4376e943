"""`tccli tdmq …`, the official command line, runs all 20 CMQ actions of the TDMQ API against
batchd with `--endpoint`; what it makes, the CMQ SDK reads."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.support import RunningServer, run_tccli


def tccli(server: RunningServer, home: Path, action: str, **fields: Any) -> Any:
    """Run `tccli tdmq <action> --<Field> <value> …`; objects and lists go as JSON."""
    arguments = [
        part
        for name, value in fields.items()
        for part in (f"--{name}", value if isinstance(value, str) else json.dumps(value))
    ]
    done = run_tccli(
        "tdmq",
        [action, *arguments],
        endpoint=server.base_url,
        credential=server.credential,
        home=home,
    )
    assert done.returncode == 0, f"{action}: {done.stdout}{done.stderr}"
    return json.loads(done.stdout)


def test_every_cmq_action_of_tccli_tdmq(
    server: RunningServer, tmp_path: Path, cmq_account: Any
) -> None:
    def call(action: str, **fields: Any) -> Any:
        return tccli(server, tmp_path, action, **fields)

    queue_id = call("CreateCmqQueue", QueueName="q1", VisibilityTimeout=40, RewindSeconds=600)
    call("CreateCmqQueue", QueueName="dlq")
    call(
        "ModifyCmqQueueAttribute",
        QueueName="q1",
        DeadLetterQueueName="dlq",
        Policy=0,
        MaxReceiveCount=5,
    )
    detail = call("DescribeCmqQueueDetail", QueueName="q1")["QueueDescribe"]
    listed = call("DescribeCmqQueues", QueueNameList=["q1", "dlq"])
    sent = call("SendCmqMsg", QueueName="q1", MsgContent="from tccli", DelaySeconds=0)

    assert queue_id["QueueId"] == detail["QueueId"]
    assert detail["VisibilityTimeout"] == 40
    assert detail["DeadLetterPolicy"]["DeadLetterQueue"] == "dlq"
    assert listed["TotalCount"] == 2
    received = cmq_account.get_queue("q1").receive_message(3)
    assert (received.msgBody, received.msgId) == ("from tccli", sent["MsgId"])
    cmq_account.get_queue("q1").delete_message(received.receiptHandle)

    call("RewindCmqQueue", QueueName="q1", StartConsumeTime=int(time.time()) - 30)
    call("ClearCmqQueue", QueueName="q1")
    call("UnbindCmqDeadLetter", SourceQueueName="q1")
    assert call("DescribeCmqQueueDetail", QueueName="q1")["QueueDescribe"]["ActiveMsgNum"] == 0

    topic_id = call("CreateCmqTopic", TopicName="t1", FilterType=1)["TopicId"]
    call("ModifyCmqTopicAttribute", TopicName="t1", MaxMsgSize=4096)
    subscription = call(
        "CreateCmqSubscribe",
        TopicName="t1",
        SubscriptionName="s1",
        Protocol="queue",
        Endpoint="q1",
        NotifyContentFormat="SIMPLIFIED",
        FilterTag=["red"],
    )
    call(
        "ModifyCmqSubscriptionAttribute", TopicName="t1", SubscriptionName="s1", FilterTags=["blue"]
    )
    published = call("PublishCmqMsg", TopicName="t1", MsgContent="fan-out", MsgTag=["blue"])
    subscriptions = call("DescribeCmqSubscriptionDetail", TopicName="t1")
    topic = call("DescribeCmqTopicDetail", TopicName="t1")["TopicDescribe"]
    topics = call("DescribeCmqTopics", TopicName="t")

    assert published["Result"] is True
    assert cmq_account.get_queue("q1").receive_message(3).msgBody == "fan-out"
    (listed_subscription,) = subscriptions["SubscriptionSet"]
    assert listed_subscription["SubscriptionId"] == subscription["SubscriptionId"]
    assert listed_subscription["FilterTags"] == ["blue"]
    assert (topic["TopicId"], topic["MaxMsgSize"], topic["SubscriptionCount"]) == (
        topic_id,
        4096,
        1,
    )
    assert [t["TopicName"] for t in topics["TopicList"]] == ["t1"]

    call("ClearCmqSubscriptionFilterTags", TopicName="t1", SubscriptionName="s1")
    assert (
        call("DescribeCmqSubscriptionDetail", TopicName="t1")["SubscriptionSet"][0]["FilterTags"]
        == []
    )
    call("DeleteCmqSubscribe", TopicName="t1", SubscriptionName="s1")
    call("DeleteCmqTopic", TopicName="t1")
    call("DeleteCmqQueue", QueueName="q1")
    assert call("DescribeCmqTopics")["TotalCount"] == 0
    assert [q["QueueName"] for q in call("DescribeCmqQueues")["QueueList"]] == ["dlq"]
