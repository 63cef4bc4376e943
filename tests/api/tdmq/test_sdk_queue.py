"""The official TDMQ client manages CMQ queues through batchd, over the same queues the CMQ SDK
sends to and receives from (tdmq-api.md §2)."""

from __future__ import annotations

import time
from typing import Any

from cmq.queue import Message

from tests.api.tdmq.client import Tdmq
from tests.support import CmqAccounts, RunningServer


def test_a_queue_made_by_tdmq_is_the_one_the_cmq_sdk_uses(
    server: RunningServer, cmq_account: Any
) -> None:
    tdmq = Tdmq(server)

    created = tdmq("CreateCmqQueue", QueueName="jobs-done", VisibilityTimeout=45, RewindSeconds=60)
    sent = tdmq("SendCmqMsg", QueueName="jobs-done", MsgContent="hello", DelaySeconds=0)

    assert created.QueueId.startswith("queue-") or created.QueueId
    assert sent.Result is True
    received = cmq_account.get_queue("jobs-done").receive_message(3)
    assert (received.msgBody, received.msgId) == ("hello", sent.MsgId)
    meta = cmq_account.get_queue("jobs-done").get_attributes()
    assert (meta.visibilityTimeout, meta.rewindSeconds) == (45, 60)


def test_queue_detail_is_shaped_as_the_sdk_parses_it(server: RunningServer) -> None:
    tdmq = Tdmq(server)
    tdmq("CreateCmqQueue", QueueName="dead")
    before_ms = int(time.time() * 1000)
    tdmq(
        "CreateCmqQueue",
        QueueName="work",
        MaxMsgSize=2048,
        DeadLetterQueueName="dead",
        Policy=0,
        MaxReceiveCount=3,
    )
    tdmq("SendCmqMsg", QueueName="work", MsgContent="a", DelaySeconds=0)
    tdmq("SendCmqMsg", QueueName="work", MsgContent="b", DelaySeconds=600)

    work = tdmq("DescribeCmqQueueDetail", QueueName="work").QueueDescribe
    dead = tdmq("DescribeCmqQueueDetail", QueueName="dead").QueueDescribe

    assert (work.QueueName, work.MaxMsgSize, work.VisibilityTimeout) == ("work", 2048, 30)
    assert (work.ActiveMsgNum, work.InactiveMsgNum, work.DelayMsgNum) == (1, 0, 1)
    assert abs(work.CreateTime - before_ms) < 60_000  # milliseconds, as the API says
    policy = work.DeadLetterPolicy
    assert (policy.DeadLetterQueue, policy.Policy, policy.MaxReceiveCount) == ("dead", 0, 3)
    assert [(s.QueueId, s.QueueName) for s in dead.DeadLetterSource] == [(work.QueueId, "work")]
    assert work.Transaction is False
    assert work.CreateUin == int(server.credential.app_id)

    tdmq("UnbindCmqDeadLetter", SourceQueueName="work")
    assert tdmq("DescribeCmqQueueDetail", QueueName="work").QueueDescribe.DeadLetterPolicy is None
    assert tdmq("DescribeCmqQueueDetail", QueueName="dead").QueueDescribe.DeadLetterSource == []


def test_queues_are_listed_by_fuzzy_name_exact_names_and_pages(server: RunningServer) -> None:
    tdmq = Tdmq(server)
    for name in ("alpha-1", "alpha-2", "beta-1"):
        tdmq("CreateCmqQueue", QueueName=name)

    every = tdmq("DescribeCmqQueues")
    fuzzy = tdmq("DescribeCmqQueues", QueueName="alpha")
    exact = tdmq("DescribeCmqQueues", QueueNameList=["beta-1", "missing", "alpha-2"])
    filtered = tdmq("DescribeCmqQueues", Filters=[{"Name": "QueueName", "Values": ["alpha-1"]}])
    second_page = tdmq("DescribeCmqQueues", Offset=1, Limit=1)

    assert every.TotalCount == 3
    assert [q.QueueName for q in fuzzy.QueueList] == ["alpha-1", "alpha-2"]
    assert [q.QueueName for q in exact.QueueList] == ["beta-1", "alpha-2"]
    assert [q.QueueName for q in filtered.QueueList] == ["alpha-1"]
    assert (second_page.TotalCount, [q.QueueName for q in second_page.QueueList]) == (
        3,
        ["alpha-2"],
    )


def test_modify_clear_rewind_and_delete(server: RunningServer, cmq_account: Any) -> None:
    tdmq = Tdmq(server)
    tdmq("CreateCmqQueue", QueueName="q", RewindSeconds=3600)
    queue = cmq_account.get_queue("q")
    queue.send_message(Message("one"))
    consumed = queue.receive_message(1)
    queue.delete_message(consumed.receiptHandle)

    tdmq("ModifyCmqQueueAttribute", QueueName="q", PollingWaitSeconds=2, MaxMsgHeapNum=5000)
    tdmq("RewindCmqQueue", QueueName="q", StartConsumeTime=int(time.time()) - 60)
    assert queue.receive_message(1).msgBody == "one"  # rewound: delivered again

    tdmq("ClearCmqQueue", QueueName="q")
    detail = tdmq("DescribeCmqQueueDetail", QueueName="q").QueueDescribe
    assert (detail.PollingWaitSeconds, detail.MaxMsgHeapNum) == (2, 5000)
    assert detail.ActiveMsgNum + detail.InactiveMsgNum == 0

    tdmq("DeleteCmqQueue", QueueName="q")
    assert tdmq("DescribeCmqQueues").TotalCount == 0


def test_tdmq_and_cmq_name_the_same_region_two_ways(
    server: RunningServer, cmq_accounts: CmqAccounts
) -> None:
    # tdmq-api.md §3: the CMQ data flow's `gz` is API 3.0's ap-guangzhou.
    Tdmq(server, region="ap-guangzhou")("CreateCmqQueue", QueueName="shared")
    Tdmq(server, region="ap-shanghai")("CreateCmqQueue", QueueName="elsewhere")

    by_short_name = Tdmq(server, region="gz")("DescribeCmqQueues")

    assert [q.QueueName for q in by_short_name.QueueList] == ["shared"]
