"""`batchd audit`: every accepted change, through each protocol, the console and the CLI's admin
commands, is recorded with its key, account, action and resource; refused calls and reads are
not; an account reads only its own entries."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from cmq.cmq_exception import CMQServerException
from cmq.queue import QueueMeta

from tests.api.console.conftest import csrf_of, sign_in
from tests.api.tdmq.client import Tdmq
from tests.cli.conftest import Cli
from tests.cli.test_account_commands import as_key
from tests.support import CmqAccounts, RunningServer

pytestmark = pytest.mark.timeout(300)


def console_creates_queue(server: RunningServer, name: str) -> None:
    with httpx.Client(base_url=server.base_url, follow_redirects=True) as browser:
        sign_in(browser, credential=server.credential)
        token = csrf_of(browser.get("/console/queues").text)
        assert browser.post("/console/queues", data={"csrf": token, "name": name}).is_success


def test_every_accepted_change_is_audited(
    cli: Cli, server: RunningServer, cmq_accounts: CmqAccounts
) -> None:
    account: Any = cmq_accounts(server.base_url)
    account.get_queue("by-cmq").create(QueueMeta())
    with pytest.raises(CMQServerException):
        account.get_queue("1-refused").create(QueueMeta())  # a bad name: not accepted
    account.list_queue()  # a read
    Tdmq(server)("CreateCmqTopic", TopicName="by-tdmq")
    console_creates_queue(server, "by-console")
    team = cli.json("account", "create", "team-a")
    as_key(cli, team)("queue", "create", "team-queue")

    entries = cli.json("audit")
    seen = [(e["Protocol"], e["Action"], e["Resource"], e["AppId"]) for e in entries]
    admin = server.credential.app_id

    assert seen == [
        ("cmq", "CreateQueue", "queueName=by-cmq", admin),
        ("tdmq", "CreateCmqTopic", "TopicName=by-tdmq", admin),
        ("console", "POST /console/queues", "/console/queues", admin),
        ("batch", "CreateAccount", "AccountName=team-a", admin),
        ("cmq", "CreateQueue", "queueName=team-queue", team["AppId"]),
    ]
    assert {e["Result"] for e in entries} == {"0"}
    assert [e["SecretId"] for e in entries][-2:] == [server.credential.secret_id, team["SecretId"]]
    assert all(e["RequestId"] and e["Time"].endswith("Z") for e in entries)

    # Another account reads its own entries only.
    own = as_key(cli, team).json("audit")
    assert [e["Resource"] for e in own] == ["queueName=team-queue"]
    refused = as_key(cli, team)("audit", "--app-id", admin, expect=1)
    assert "UnauthorizedOperation" in refused.stderr
    assert cli.json("audit", "--app-id", team["AppId"]) == own
    assert cli.json("audit", "--since", "1h") == entries
