"""Notification configuration at SubmitJob and CreateComputeEnv (events.md §2.3) on the real server.

Every refusal answers its exact code through the official SDK and stores nothing (no job, no env,
no event, no ClientToken); aliases and lower-case canonical names are accepted, stored and echoed
in the v3 spelling. Jobs are submitted to an environment of zero nodes: nothing here runs.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.pool import NullPool
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from batchd.domain.scope import Scope
from batchd.domain.topic import FilterType
from batchd.store import tables, tables_batch
from batchd.store.repos import topics as topic_repo
from tests.api.raw import RawClient
from tests.batch.conftest import BatchApi
from tests.support import OTHER_CREDENTIAL, CmqAccounts, RunningServer

ZONE = "ap-guangzhou-2"
TOPIC = "job-message"
SUBMIT_JOB = "SubmitJob"
CREATE_ENV = "CreateComputeEnv"
ACTIONS = (SUBMIT_JOB, CREATE_ENV)
# An event only this action may configure (node events, both may).
ALLOWED = {SUBMIT_JOB: "JOB_FAILED", CREATE_ENV: "COMPUTE_ENV_CREATED"}
# Every table a SubmitJob or CreateComputeEnv writes to, directly or through what it starts.
STORED = (
    tables_batch.jobs,
    tables_batch.tasks,
    tables_batch.instances,
    tables_batch.envs,
    tables_batch.nodes,
    tables_batch.activities,
    tables_batch.events,
    tables_batch.client_tokens,
    tables.topic_messages,
    tables.deliveries,
    tables.messages,
)


def stored(server: RunningServer) -> dict[str, int]:
    """Row counts of the tables a configuration could have written to."""
    engine = create_engine(server.database_url, poolclass=NullPool)
    with engine.connect() as conn:
        counts = {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in STORED
        }
    engine.dispose()
    return counts


def notification(topic: str, *events: str | dict[str, Any]) -> dict[str, Any]:
    """A v3 Notification; a plain name becomes an EventConfig without EventVars."""
    configs = [{"EventName": e} if isinstance(e, str) else e for e in events]
    return {"TopicName": topic, "EventConfigs": configs}


@dataclass
class Configure:
    """SubmitJob or CreateComputeEnv with given notifications, and what each must not store."""

    action: str
    batch: BatchApi
    server: RunningServer
    env_id: str  # the zero-node env jobs go to; "" for CreateComputeEnv

    @property
    def key(self) -> str:
        return "Job" if self.action == SUBMIT_JOB else "ComputeEnv"

    def request(self, notifications: Any = None, **fields: Any) -> dict[str, Any]:
        """The action's request; `fields` go into its Job / ComputeEnv."""
        if self.action == SUBMIT_JOB:
            resource: dict[str, Any] = {
                "JobName": "configured",
                "Tasks": [
                    {
                        "TaskName": "never-runs",
                        "EnvId": self.env_id,
                        "Application": {"DeliveryForm": "LOCAL", "Command": "true"},
                    }
                ],
            }
        else:
            resource = {
                "EnvName": "configured",
                "DesiredComputeNodeCount": 0,
                "EnvData": {"InstanceType": "S5.SMALL1"},
            }
        if notifications is not None:
            resource["Notifications"] = notifications
        resource.update(fields)
        return {"Placement": {"Zone": ZONE}, "ClientToken": "configure-1", self.key: resource}

    def accepted(self, notifications: Any = None, **fields: Any) -> str:
        """Send through the typed SDK; the new JobId / EnvId."""
        answer = self.batch(self.action, self.request(notifications, **fields))
        return str(answer["JobId" if self.action == SUBMIT_JOB else "EnvId"])

    def accepted_raw(self, resource: dict[str, Any]) -> str:
        """Send a Job / ComputeEnv as raw JSON (`call_json`: keys the typed SDK does not know)."""
        request = self.request()
        request[self.key].update(resource)
        answer = self.batch.client.call_json(self.action, request)["Response"]
        return str(answer["JobId" if self.action == SUBMIT_JOB else "EnvId"])

    def refused(self, notifications: Any = None, **fields: Any) -> str:
        """Send through the typed SDK, expect an error that stored nothing; its code."""
        return self._refused(lambda: self.batch(self.action, self.request(notifications, **fields)))

    def refused_raw(self, resource: dict[str, Any]) -> str:
        request = self.request()
        request[self.key].update(resource)
        return self._refused(lambda: self.batch.client.call_json(self.action, request))

    def _refused(self, call: Any) -> str:
        before = stored(self.server)
        with pytest.raises(TencentCloudSDKException) as caught:
            call()
        assert stored(self.server) == before
        if self.action == SUBMIT_JOB:
            assert self.batch("DescribeJobs", {})["TotalCount"] == 0
            assert self.batch("DescribeComputeEnvs", {})["TotalCount"] == 1  # the zero-node env
        else:
            assert self.batch("DescribeComputeEnvs", {})["TotalCount"] == 0
            assert before[tables_batch.events.name] == 0
        return str(caught.value.code)

    def echoed(self, resource_id: str) -> list[dict[str, Any]]:
        """The stored notifications as DescribeJobSubmitInfo / DescribeComputeEnvCreateInfo
        answer them, raw JSON (the typed SDK drops or fills in fields)."""
        if self.action == SUBMIT_JOB:
            answer = self.batch.client.call_json("DescribeJobSubmitInfo", {"JobId": resource_id})
        else:
            answer = self.batch.client.call_json(
                "DescribeComputeEnvCreateInfo", {"EnvId": resource_id}
            )
        echoed: list[dict[str, Any]] = answer["Response"]["Notifications"]
        return echoed


@pytest.fixture
def batch(server: RunningServer) -> BatchApi:
    return BatchApi(server)


@pytest.fixture
def cmq(server: RunningServer, cmq_accounts: CmqAccounts) -> Any:
    """The CMQ SDK on the server, with the topic `job-message` (no subscription)."""
    account = cmq_accounts(server.base_url)
    create_topic(account, TOPIC)
    return account


def create_topic(account: Any, name: str) -> None:
    from cmq.topic import TopicMeta

    account.get_topic(name).create(TopicMeta())


def zero_node_env(batch: BatchApi) -> str:
    answer = batch(
        CREATE_ENV,
        {
            "Placement": {"Zone": ZONE},
            "ComputeEnv": {
                "EnvName": "no-nodes",
                "DesiredComputeNodeCount": 0,
                "EnvData": {"InstanceType": "S5.SMALL1"},
            },
        },
    )
    return str(answer["EnvId"])


@pytest.fixture(params=ACTIONS)
def action(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def configure(action: str, server: RunningServer, batch: BatchApi, cmq: Any) -> Configure:
    """The action, ready to send (for SubmitJob: a zero-node env exists)."""
    env_id = zero_node_env(batch) if action == SUBMIT_JOB else ""
    return Configure(action, batch, server, env_id)


def ok_event(configure: Configure) -> str:
    return ALLOWED[configure.action]


# --- TopicName -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "topic",
    ["", "1job", "job message", "job.message", "jöb", "-job", "_job"],
    ids=["empty", "digit-first", "space", "dot", "non-ascii", "dash-first", "underscore-first"],
)
def test_an_invalid_topic_name_is_refused(configure: Configure, topic: str) -> None:
    """A TopicName that is not a CMQ topic name answers InvalidParameter.NotificationTopicName."""
    code = configure.refused([notification(topic, ok_event(configure))])

    assert code == "InvalidParameter.NotificationTopicName"


@pytest.mark.parametrize("topic", ["t" * 65, "t" * 200, "1" * 65], ids=["65", "200", "65-invalid"])
def test_a_topic_name_over_64_characters_is_too_long(configure: Configure, topic: str) -> None:
    """Over 64 characters answers ...TopicNameTooLong, even when the name is invalid as well."""
    code = configure.refused([notification(topic, ok_event(configure))])

    assert code == "InvalidParameter.NotificationTopicNameTooLong"


def test_a_topic_that_does_not_exist_is_refused(configure: Configure) -> None:
    """A well-formed name of no topic answers InvalidParameter.NotificationTopicName, also when
    another notification of the request names an existing topic."""
    code = configure.refused(
        [
            notification(TOPIC, ok_event(configure)),
            notification("no-such-topic", ok_event(configure)),
        ]
    )

    assert code == "InvalidParameter.NotificationTopicName"


def test_a_topic_of_another_region_is_refused(configure: Configure) -> None:
    """A topic that exists only in another region of the caller's account is not the caller's."""
    with RawClient(configure.server) as raw:
        raw.call("CreateTopic", {"topicName": "shanghai-only"}, region="ap-shanghai").ok()

    code = configure.refused([notification("shanghai-only", ok_event(configure))])

    assert code == "InvalidParameter.NotificationTopicName"


def test_a_topic_of_another_account_is_refused(configure: Configure) -> None:
    """A topic that exists only in another account, same region, is not the caller's.

    The test server serves one account, so the other account's topic is written with the
    store's own topic repository."""
    engine = create_engine(configure.server.database_url, poolclass=NullPool)
    with engine.begin() as conn:
        other = Scope(OTHER_CREDENTIAL.app_id, "ap-guangzhou")
        topic_repo.insert_topic(conn, other, "theirs", 65536, FilterType.TAGS, 0)
    engine.dispose()

    code = configure.refused([notification("theirs", ok_event(configure))])

    assert code == "InvalidParameter.NotificationTopicName"


def test_a_topic_without_subscription_is_accepted(configure: Configure) -> None:
    """The topic needs to exist, not to have a subscription: configuring it succeeds."""
    resource_id = configure.accepted([notification(TOPIC, ok_event(configure))])

    assert configure.echoed(resource_id) == [
        {"TopicName": TOPIC, "EventConfigs": [{"EventName": ok_event(configure), "EventVars": []}]}
    ]


def test_a_topic_name_of_64_characters_is_accepted(configure: Configure, cmq: Any) -> None:
    """64 characters, letters, digits, `-` and `_`: the longest valid name is taken as it is."""
    longest = "a-_0" * 16
    create_topic(cmq, longest)

    resource_id = configure.accepted([notification(longest, ok_event(configure))])

    assert configure.echoed(resource_id)[0]["TopicName"] == longest


# --- EventName -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    ["", "JOB_EXPLODED", "Jobfailed", "jobFailed", "JobFailedNow", "JOB FAILED", " JOB_FAILED"],
)
def test_an_unknown_event_name_is_refused(configure: Configure, event: str) -> None:
    """A name that is neither canonical (any case) nor a CamelCase alias → InvalidParameterValue."""
    code = configure.refused([notification(TOPIC, ok_event(configure), event)])

    assert code == "InvalidParameterValue"


NOT_CONFIGURABLE = {
    SUBMIT_JOB: ["COMPUTE_ENV_CREATED", "COMPUTE_ENV_DELETED", "ComputeEnvDeleted"],
    CREATE_ENV: [
        "JOB_FAILED",
        "JobSucceed",
        "JOB_RUNNING",
        "TASK_RUNNING",
        "TASK_FAILED",
        "TASK_INSTANCE_FAILED",
        "TaskInstanceFailedInterrupted",
    ],
}


@pytest.mark.parametrize(
    ("action", "event"),
    [(action, event) for action, events in NOT_CONFIGURABLE.items() for event in events],
)
def test_an_event_not_configurable_on_the_action_is_refused(
    configure: Configure, event: str
) -> None:
    """Env events on SubmitJob, job/task/instance events on CreateComputeEnv
    → InvalidParameterValue."""
    code = configure.refused([notification(TOPIC, "COMPUTE_NODE_RUNNING", event)])

    assert code == "InvalidParameterValue"


@pytest.mark.parametrize(
    "events",
    [
        ["COMPUTE_NODE_RUNNING", "COMPUTE_NODE_RUNNING"],
        ["COMPUTE_NODE_RUNNING", "ComputeNodeRunning"],
        ["compute_node_running", "COMPUTE_NODE_RUNNING"],
        [
            {"EventName": "COMPUTE_NODE_RUNNING", "EventVars": [{"Name": "a", "Value": "1"}]},
            {"EventName": "COMPUTE_NODE_RUNNING", "EventVars": [{"Name": "b", "Value": "2"}]},
        ],
    ],
    ids=["same", "alias", "lower-case", "different-vars"],
)
def test_an_event_twice_in_one_notification_is_a_duplicate(
    configure: Configure, events: list[str | dict[str, Any]]
) -> None:
    """One EventName twice in one notification, however spelled
    → InvalidParameter.NotificationEventNameDuplicate."""
    code = configure.refused([notification(TOPIC, *events)])

    assert code == "InvalidParameter.NotificationEventNameDuplicate"


def test_the_same_topic_and_event_in_two_notifications_is_a_duplicate(
    configure: Configure,
) -> None:
    """Two notifications of one topic that both list an event
    → InvalidParameter.NotificationEventNameDuplicate."""
    code = configure.refused(
        [
            notification(TOPIC, ok_event(configure), "COMPUTE_NODE_CREATED"),
            notification(TOPIC, "ComputeNodeCreated"),
        ]
    )

    assert code == "InvalidParameter.NotificationEventNameDuplicate"


def test_one_event_on_two_topics_and_one_topic_in_two_notifications_are_accepted(
    configure: Configure, cmq: Any
) -> None:
    """Duplicates are per topic: the same event for two topics, or two notifications of one topic
    with different events, are accepted and stored as given."""
    create_topic(cmq, "second")
    given = [
        notification(TOPIC, ok_event(configure)),
        notification("second", ok_event(configure)),
        notification(TOPIC, "COMPUTE_NODE_RUNNING"),
    ]

    resource_id = configure.accepted(given)

    assert configure.echoed(resource_id) == [
        {"TopicName": topic, "EventConfigs": [{"EventName": event, "EventVars": []}]}
        for topic, event in [
            (TOPIC, ok_event(configure)),
            ("second", ok_event(configure)),
            (TOPIC, "COMPUTE_NODE_RUNNING"),
        ]
    ]


# --- NotificationTarget ----------------------------------------------------------------------


@pytest.mark.parametrize("target", ["KAFKA", "cmq", "", "TDMQ"])
def test_a_notification_target_other_than_cmq_is_refused(configure: Configure, target: str) -> None:
    """NotificationTarget must be CMQ or TDMQ_CMQ: anything else → InvalidParameterValue."""
    code = configure.refused([notification(TOPIC, ok_event(configure))], NotificationTarget=target)

    assert code == "InvalidParameterValue"


@pytest.mark.parametrize("target", ["CMQ", "TDMQ_CMQ"])
def test_cmq_targets_are_accepted(configure: Configure, target: str) -> None:
    """Both CMQ targets mean the built-in message service."""
    resource_id = configure.accepted(
        [notification(TOPIC, ok_event(configure))], NotificationTarget=target
    )

    assert configure.echoed(resource_id)[0]["TopicName"] == TOPIC


# --- EventConfigs and EventVars ---------------------------------------------------------------


def _vars(count: int, name: str = "n", value: str = "v") -> list[dict[str, str]]:
    return [{"Name": f"{name}{i}" if name else "", "Value": value} for i in range(count)]


@pytest.mark.parametrize(
    "event_vars",
    [
        _vars(21),
        [{"Name": "", "Value": "v"}],
        [{"Name": "n" * 65, "Value": "v"}],
        [{"Name": "n", "Value": "v" * 1025}],
        [{"Name": "ok", "Value": "v"}, {"Name": "n", "Value": "v" * 1025}],
    ],
    ids=["21-vars", "empty-name", "name-65", "value-1025", "second-var-bad"],
)
def test_bad_event_vars_are_refused(configure: Configure, event_vars: list[dict[str, str]]) -> None:
    """More than 20 EventVars, an empty Name, a Name over 64 or a Value over 1024 characters
    → InvalidParameterValue."""
    config = {"EventName": ok_event(configure), "EventVars": event_vars}

    code = configure.refused([notification(TOPIC, "COMPUTE_NODE_CREATED", config)])

    assert code == "InvalidParameterValue"


def test_empty_event_configs_are_refused(configure: Configure) -> None:
    """A notification without any EventConfig → InvalidParameterValue."""
    code = configure.refused([notification(TOPIC, ok_event(configure)), notification(TOPIC)])

    assert code == "InvalidParameterValue"


def test_event_vars_at_their_limits_are_accepted(configure: Configure) -> None:
    """20 EventVars, a Name of 64 and a Value of 1024 characters, an empty Value: all kept."""
    event_vars = [
        {"Name": "n" * 64, "Value": "v" * 1024},
        {"Name": "empty", "Value": ""},
        *_vars(18, value="作业 ✓"),
    ]
    config = {"EventName": ok_event(configure), "EventVars": event_vars}

    resource_id = configure.accepted([notification(TOPIC, config)])

    assert configure.echoed(resource_id) == [
        {
            "TopicName": TOPIC,
            "EventConfigs": [{"EventName": ok_event(configure), "EventVars": event_vars}],
        }
    ]


# --- aliases, letter case and the echo ------------------------------------------------------


def test_aliases_and_lower_case_names_are_echoed_canonically_on_submit_job(
    server: RunningServer, batch: BatchApi, cmq: Any
) -> None:
    """SubmitJob takes CamelCase aliases and canonical names in any case; DescribeJobSubmitInfo
    answers the v3 spelling with canonical names and `EventVars` always present."""
    configure = Configure(SUBMIT_JOB, batch, server, zero_node_env(batch))
    succeed_vars = [{"Name": "jobSucceed", "Value": "Success"}]

    job_id = configure.accepted(
        [
            notification(
                TOPIC,
                "JobFailed",
                {"EventName": "JobSucceed", "EventVars": succeed_vars},
                "TaskInstanceFailedInterrupted",
                "ComputeNodeCreationFailed",
                {"EventName": "job_running", "EventVars": []},
                "Task_Succeed",
            )
        ]
    )

    assert configure.echoed(job_id) == [
        {
            "TopicName": TOPIC,
            "EventConfigs": [
                {"EventName": "JOB_FAILED", "EventVars": []},
                {"EventName": "JOB_SUCCEED", "EventVars": succeed_vars},
                {"EventName": "TASK_INSTANCE_FAILED_INTERRUPTED", "EventVars": []},
                {"EventName": "COMPUTE_NODE_CREATION_FAILED", "EventVars": []},
                {"EventName": "JOB_RUNNING", "EventVars": []},
                {"EventName": "TASK_SUCCEED", "EventVars": []},
            ],
        }
    ]
    assert [j["JobId"] for j in batch("DescribeJobs", {})["JobSet"]] == [job_id]
    # the typed SDK, whose answer model has no Notifications, still reads the answer
    assert batch("DescribeJobSubmitInfo", {"JobId": job_id})["JobName"] == "configured"


def test_aliases_and_lower_case_names_are_echoed_canonically_on_create_compute_env(
    server: RunningServer, batch: BatchApi, cmq: Any
) -> None:
    """CreateComputeEnv takes aliases and any-case names; DescribeComputeEnvCreateInfo(s) answer
    canonical names, through the typed SDK too."""
    configure = Configure(CREATE_ENV, batch, server, "")
    env_id = configure.accepted(
        [
            notification(
                TOPIC,
                "ComputeNodeCreationFailed",
                {"EventName": "ComputeEnvCreated", "EventVars": [{"Name": "k", "Value": "v"}]},
                "compute_env_deleted",
                "Compute_Node_Running",
            )
        ]
    )

    expected = [
        {
            "TopicName": TOPIC,
            "EventConfigs": [
                {"EventName": "COMPUTE_NODE_CREATION_FAILED", "EventVars": []},
                {"EventName": "COMPUTE_ENV_CREATED", "EventVars": [{"Name": "k", "Value": "v"}]},
                {"EventName": "COMPUTE_ENV_DELETED", "EventVars": []},
                {"EventName": "COMPUTE_NODE_RUNNING", "EventVars": []},
            ],
        }
    ]
    assert configure.echoed(env_id) == expected
    assert batch("DescribeComputeEnvCreateInfo", {"EnvId": env_id})["Notifications"] == expected
    listed = batch("DescribeComputeEnvCreateInfos", {"EnvIds": [env_id]})
    assert [info["Notifications"] for info in listed["ComputeEnvCreateInfoSet"]] == [expected]


def test_an_alias_routes_the_event_under_its_canonical_name(
    server: RunningServer, batch: BatchApi, cmq: Any
) -> None:
    """COMPUTE_ENV_CREATED configured as `ComputeEnvCreated` reaches a subscribed queue named
    canonically, with its EventVars in v3 spelling, Base64 in msgBody."""
    from cmq.queue import QueueMeta
    from cmq.subscription import SubscriptionMeta

    cmq.get_queue("env-events").create(QueueMeta())
    meta = SubscriptionMeta()
    meta.Protocal, meta.Endpoint, meta.NotifyContentFormat = "queue", "env-events", "SIMPLIFIED"
    cmq.get_subscription(TOPIC, "env-events-sub").create(meta)
    configure = Configure(CREATE_ENV, batch, server, "")

    env_id = configure.accepted(
        [
            notification(
                TOPIC,
                {"EventName": "ComputeEnvCreated", "EventVars": [{"Name": "who", "Value": "me"}]},
            )
        ]
    )

    message = cmq.get_queue("env-events").receive_message(5)
    body = json.loads(base64.b64decode(message.msgBody, validate=True))
    (event,) = body["Events"]
    assert event["EventName"] == "COMPUTE_ENV_CREATED"
    assert event["EventVars"] == [{"Name": "who", "Value": "me"}]
    assert event["Batch"]["EnvId"] == env_id


# --- the flattened forms --------------------------------------------------------------------

FORMS = {"tc3-get": ("GET", None), "v1-post": ("POST", "HmacSHA256"), "v1-get": ("GET", "HmacSHA1")}


def form_client(server: RunningServer, form: str) -> BatchApi:
    """BatchApi whose SDK sends `Job.Notifications.0.TopicName=…` (GET and signature v1)."""
    from tencentcloud.batch.v20170312 import batch_client
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    method, sign_method = FORMS[form]
    api = BatchApi(server)
    http = HttpProfile(protocol="http", endpoint=server.host, reqMethod=method)
    cred = credential.Credential(server.credential.secret_id, server.credential.secret_key)
    profile = ClientProfile(httpProfile=http, signMethod=sign_method)
    api.client = batch_client.BatchClient(cred, "ap-guangzhou", profile)
    return api


@pytest.mark.parametrize("form", FORMS)
def test_flattened_forms_carry_notifications(
    server: RunningServer, cmq: Any, action: str, form: str
) -> None:
    """GET and signature-v1 requests flatten Notifications; they are checked and stored like
    JSON ones: aliases canonical, EventVars kept, a bad one refused with its code."""
    batch = form_client(server, form)
    env_id = zero_node_env(batch) if action == SUBMIT_JOB else ""
    configure = Configure(action, batch, server, env_id)
    event_vars = [{"Name": "a b", "Value": "x=1&y=2"}, {"Name": "n", "Value": "作业"}]

    assert configure.refused(
        [notification(TOPIC, "ComputeNodeRunning", "COMPUTE_NODE_RUNNING")]
    ) == ("InvalidParameter.NotificationEventNameDuplicate")
    resource_id = configure.accepted(
        [notification(TOPIC, {"EventName": "ComputeNodeRunning", "EventVars": event_vars})]
    )

    assert configure.echoed(resource_id) == [
        {
            "TopicName": TOPIC,
            "EventConfigs": [{"EventName": "COMPUTE_NODE_RUNNING", "EventVars": event_vars}],
        }
    ]


# --- the legacy spelling at the API ----------------------------------------------------------


def legacy(topic: str, *configs: dict[str, Any]) -> dict[str, Any]:
    return {"topic_name": topic, "event_configs": list(configs)}


def test_the_legacy_spelling_is_accepted_and_echoed_in_v3_spelling(configure: Configure) -> None:
    """`notifications` with snake_case keys (the founding doc's example) is taken as
    `Notifications` and answered in the v3 spelling with canonical names."""
    resource_id = configure.accepted_raw(
        {
            "notifications": [
                legacy(
                    TOPIC,
                    {"event_name": "ComputeNodeCreationFailed"},
                    {
                        "event_name": "ComputeNodeRunning",
                        "event_vars": [{"name": "jobSucceed", "value": "Success"}],
                    },
                )
            ]
        }
    )

    assert configure.echoed(resource_id) == [
        {
            "TopicName": TOPIC,
            "EventConfigs": [
                {"EventName": "COMPUTE_NODE_CREATION_FAILED", "EventVars": []},
                {
                    "EventName": "COMPUTE_NODE_RUNNING",
                    "EventVars": [{"Name": "jobSucceed", "Value": "Success"}],
                },
            ],
        }
    ]


def test_both_spellings_together_are_refused(configure: Configure) -> None:
    """`Notifications` and `notifications` in one request → ...InvalidParameterCombination."""
    event = ok_event(configure)

    code = configure.refused_raw(
        {
            "Notifications": [notification(TOPIC, event)],
            "notifications": [legacy(TOPIC, {"event_name": event})],
        }
    )

    assert code == "InvalidParameter.InvalidParameterCombination"


def test_a_key_spelled_both_ways_in_legacy_notifications_is_refused(configure: Configure) -> None:
    """`topic_name` and `TopicName` in one legacy notification → ...InvalidParameterCombination."""
    code = configure.refused_raw(
        {
            "notifications": [
                {
                    "topic_name": TOPIC,
                    "TopicName": TOPIC,
                    "event_configs": [{"event_name": ok_event(configure)}],
                }
            ]
        }
    )

    assert code == "InvalidParameter.InvalidParameterCombination"


@pytest.mark.parametrize(
    ("notifications", "code"),
    [
        (
            [legacy("1bad", {"event_name": "ComputeNodeRunning"})],
            "InvalidParameter.NotificationTopicName",
        ),
        (
            [legacy("t" * 65, {"event_name": "ComputeNodeRunning"})],
            "InvalidParameter.NotificationTopicNameTooLong",
        ),
        (
            [legacy("missing", {"event_name": "ComputeNodeRunning"})],
            "InvalidParameter.NotificationTopicName",
        ),
        ([legacy(TOPIC, {"event_name": "NoSuchEvent"})], "InvalidParameterValue"),
        (
            [
                legacy(
                    TOPIC,
                    {"event_name": "ComputeNodeRunning"},
                    {"event_name": "COMPUTE_NODE_RUNNING"},
                )
            ],
            "InvalidParameter.NotificationEventNameDuplicate",
        ),
        ([legacy(TOPIC)], "InvalidParameterValue"),
        (
            [
                legacy(
                    TOPIC,
                    {
                        "event_name": "ComputeNodeRunning",
                        "event_vars": [{"name": "", "value": "v"}],
                    },
                )
            ],
            "InvalidParameterValue",
        ),
    ],
    ids=[
        "invalid-topic",
        "long-topic",
        "missing-topic",
        "unknown-event",
        "duplicate",
        "no-configs",
        "empty-var-name",
    ],
)
def test_the_legacy_spelling_is_checked_like_the_v3_one(
    configure: Configure, notifications: list[dict[str, Any]], code: str
) -> None:
    """The §2.3 checks apply to the legacy spelling with the same codes."""
    assert configure.refused_raw({"notifications": notifications}) == code
