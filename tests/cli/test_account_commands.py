"""`batchd account` and `batchd key` against the running server: the administrator makes an
account, its key works at once and sees only its own resources, and a key disabled or deleted is
refused on its next call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Cli, clean_env
from tests.support import RunningServer, ServerProcess

pytestmark = pytest.mark.timeout(300)  # every step is a fresh `batchd` process


def as_key(admin: Cli, key: dict[str, Any]) -> Cli:
    """The CLI signing with another account's key."""
    env = clean_env(
        {
            "BATCHD_APPID": key["AppId"],
            "BATCHD_SECRET_ID": key["SecretId"],
            "BATCHD_SECRET_KEY": key["SecretKey"],
        }
    )
    return Cli(env, admin.cwd, admin.options)


def test_accounts_keys_and_what_each_sees(cli: Cli, server: RunningServer) -> None:
    team = cli.json("account", "create", "team-a")
    second = cli.json("key", "create", "--app-id", team["AppId"])
    accounts = cli.json("account", "list")
    keys = cli.json("key", "list", "--app-id", team["AppId"])

    assert set(team) == {"AppId", "SecretId", "SecretKey"}
    assert second["AppId"] == team["AppId"]
    assert [(a["AccountName"], a["Admin"]) for a in accounts] == [
        ("admin", True),
        ("team-a", False),
    ]
    assert [a["KeyCount"] for a in accounts] == [1, 2]
    assert sorted(k["SecretId"] for k in keys) == sorted([team["SecretId"], second["SecretId"]])
    assert all(k["Enabled"] for k in keys)
    assert "SecretKey" not in keys[0]

    team_cli = as_key(cli, team)
    team_cli("queue", "create", "team-queue")
    cli("queue", "create", "admin-queue")
    assert [q["queueName"] for q in team_cli.json("queue", "list")] == ["team-queue"]
    assert [q["queueName"] for q in cli.json("queue", "list")] == ["admin-queue"]
    # Another account is not the administrator, and sees only itself.
    refused = team_cli("account", "create", "sneaky", expect=1)
    assert "UnauthorizedOperation" in refused.stderr
    assert [a["AccountName"] for a in team_cli.json("account", "list")] == ["team-a"]

    cli("key", "disable", team["SecretId"])
    assert "is disabled" in team_cli("queue", "list", expect=1).stderr
    assert as_key(cli, second).json("queue", "list")[0]["queueName"] == "team-queue"
    cli("key", "enable", team["SecretId"])
    assert team_cli.json("queue", "list")[0]["queueName"] == "team-queue"
    # An account manages its own keys: here it deletes the other one.
    team_cli("key", "delete", second["SecretId"])
    assert "does not exist" in as_key(cli, second)("queue", "list", expect=1).stderr


def test_the_servers_own_key_cannot_be_disabled(cli: Cli, server: RunningServer) -> None:
    refused = cli("key", "disable", server.credential.secret_id, expect=1)

    assert "BATCHD_SECRET_KEY" in refused.stderr
    assert cli.json("key", "list")[0]["Enabled"] is True


def test_an_unknown_key_answers_not_found(cli: Cli, tmp_path: Path) -> None:
    assert "ResourceNotFound" in cli("key", "delete", "AKIDnothing", expect=1).stderr


def test_accounts_and_keys_outlive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, f"sqlite:///{data_dir / 'batchd.db'}")
    admin = Cli(
        clean_env(
            {
                "BATCHD_APPID": server.credential.app_id,
                "BATCHD_SECRET_ID": server.credential.secret_id,
                "BATCHD_SECRET_KEY": server.credential.secret_key,
            }
        ),
        tmp_path,
        ["--endpoint", server.base_url],
    )
    with server.serving():
        team = admin.json("account", "create", "team-a")
        spare = admin.json("key", "create", "--app-id", team["AppId"])
        admin("key", "disable", spare["SecretId"])
        as_key(admin, team)("queue", "create", "kept")

    with server.serving():
        assert [q["queueName"] for q in as_key(admin, team).json("queue", "list")] == ["kept"]
        as_key(admin, spare)("queue", "list", expect=1)
        keys = {k["SecretId"]: k["Enabled"] for k in admin.json("key", "list")}
        assert keys == {
            server.credential.secret_id: True,
            team["SecretId"]: True,
            spare["SecretId"]: False,
        }
