"""A region has one name everywhere: the CMQ data flow's short `gz` is API 3.0's ap-guangzhou
(tdmq-api.md §3), so a job's notifications fill a topic a CMQ client made with `Region=gz`."""

from __future__ import annotations

import base64
import json

from tests.api.raw import RawClient
from tests.api.tdmq.client import Tdmq
from tests.batch.conftest import BatchApi, command_task
from tests.support import RunningServer


def test_a_job_in_ap_guangzhou_notifies_a_topic_made_in_gz(
    server: RunningServer, batch: BatchApi
) -> None:
    with RawClient(server) as cmq:
        cmq.call("CreateQueue", {"queueName": "events"}, region="gz").ok()
        cmq.call("CreateTopic", {"topicName": "made-in-gz"}, region="gz").ok()
        cmq.call(
            "Subscribe",
            {
                "topicName": "made-in-gz",
                "subscriptionName": "to-events",
                "protocol": "queue",
                "endpoint": "events",
                "notifyContentFormat": "SIMPLIFIED",
            },
            region="gz",
        ).ok()
        env_id = batch.env(nodes=1)

        job_id = batch.submit(
            [command_task("t", env_id, "true")],
            Notifications=[
                {"TopicName": "made-in-gz", "EventConfigs": [{"EventName": "JOB_SUCCEED"}]}
            ],
        )
        assert batch.finished(job_id)["JobState"] == "SUCCEED"
        received = cmq.call(
            "ReceiveMessage", {"queueName": "events", "pollingWaitSeconds": 10}, region="gz"
        ).ok()

    (event,) = json.loads(base64.b64decode(received["msgBody"]))["Events"]
    assert (event["EventName"], event["Region"]) == ("JOB_SUCCEED", "ap-guangzhou")
    # The same queue, by its long name, through the TDMQ API (and by its short name too).
    assert [q.QueueName for q in Tdmq(server, "ap-guangzhou")("DescribeCmqQueues").QueueList] == [
        "events"
    ]
    assert Tdmq(server, "gz")("DescribeCmqTopicDetail", TopicName="made-in-gz").TopicDescribe
