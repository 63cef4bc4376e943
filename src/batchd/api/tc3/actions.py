"""The action names of Batch API version 2017-03-12, which of them only the cloud can serve, and
the batchd extensions served on the same endpoint.

batchd extensions (no Batch API equivalent; used by the batchd CLI and console), called like any
action (TC3-signed, `X-TC-Version: 2017-03-12`; the SDK's `call_json` reaches them):
- `DescribeEvents` {OwnerId, Offset, Limit} -> {TotalCount, EventSet}: the stored lifecycle
  events of a job or environment (its tasks, instances and nodes), oldest first, kept after the
  job or environment is deleted.
- `ReplayEvents` {OwnerId, TopicName, EventIds} -> {ReplayedCount}: publish stored events again
  to one topic, in their order (all of them, or the named ones).
- `DescribeTaskInstanceAttempts` {JobId, TaskName, Offset, Limit} -> {TotalCount,
  TaskInstanceAttemptSet [{TaskInstanceIndex, Attempt}]}: the attempt each instance is on (1 for
  the first; the API's TaskInstanceView has no such field, and a field it does not know would
  make the official SDK warn on every DescribeTask).
- Accounts and API keys (the CLI's `batchd account` and `batchd key`): `CreateAccount`
  {AccountName} -> {AppId, SecretId, SecretKey} (the administrator only); `DescribeAccounts` {}
  -> {TotalCount, AccountSet [{AppId, AccountName, Admin, KeyCount, CreateTime}]};
  `CreateApiKey` {AppId} -> {AppId, SecretId, SecretKey}; `DescribeApiKeys` {AppId?} ->
  {TotalCount, ApiKeySet [{SecretId, AppId, Enabled, CreateTime}]}; `DisableApiKey`,
  `EnableApiKey`, `DeleteApiKey` {SecretId}. The administrator manages every account's keys, any
  other account its own; a new key's SecretKey is shown once. `DescribeAuditEvents` {AppId?,
  Since? (UTC `YYYY-MM-DDTHH:MM:SSZ`), AfterId?, Limit? (1-1000, 100)} -> {AuditEventSet [{Id,
  Time, SecretId, AppId, Region, Protocol, Action, Resource, Result, RequestId}], LastId}: the
  administrator reads every account's entries, another account its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from batchd.api.tc3.apis import Api, Handler

VERSION = "2017-03-12"

# batch-api.md §2: the actions batchd implements.
SELF_HOSTED = frozenset(
    {
        "SubmitJob",
        "DescribeJob",
        "DescribeJobs",
        "DescribeJobSubmitInfo",
        "TerminateJob",
        "DeleteJob",
        "RetryJobs",
        "DescribeTask",
        "DescribeTaskLogs",
        "TerminateTaskInstance",
        "CreateComputeEnv",
        "DescribeComputeEnv",
        "DescribeComputeEnvs",
        "DescribeComputeEnvCreateInfo",
        "DescribeComputeEnvCreateInfos",
        "ModifyComputeEnv",
        "DeleteComputeEnv",
        "DescribeComputeEnvActivities",
        "TerminateComputeNode",
        "TerminateComputeNodes",
        "AttachInstances",
        "DetachInstances",
        "CreateTaskTemplate",
        "DescribeTaskTemplates",
        "ModifyTaskTemplate",
        "DeleteTaskTemplates",
    }
)

# batch-api.md §2 "Cloud-only actions": they exist in the API, batchd answers UnsupportedOperation.
CLOUD_ONLY = frozenset(
    {
        "DescribeAvailableCvmInstanceTypes",
        "DescribeCvmZoneInstanceConfigInfos",
        "DescribeInstanceCategories",
        "DescribeJobMonitorData",
    }
)

KNOWN = SELF_HOSTED | CLOUD_ONLY

# Accounts and API keys (module docstring), served by `handlers_accounts`.
ACCOUNT_EXTENSIONS = frozenset(
    {
        "CreateAccount",
        "DescribeAccounts",
        "CreateApiKey",
        "DescribeApiKeys",
        "DisableApiKey",
        "EnableApiKey",
        "DeleteApiKey",
        "DescribeAuditEvents",
    }
)

# batchd extensions (module docstring): not actions of the API, so not in KNOWN.
EXTENSIONS = frozenset(
    {
        "DescribeEvents",
        "ReplayEvents",
        "DescribeTaskInstanceAttempts",
        *ACCOUNT_EXTENSIONS,
    }
)


def batch_api(actions: Mapping[str, tuple[type[BaseModel], Handler]]) -> Api:
    """The Batch API served with `actions` (of SELF_HOSTED and EXTENSIONS)."""
    return Api(
        title="Batch API",
        service="batch",
        version=VERSION,
        known=KNOWN,
        extensions=EXTENSIONS,
        actions=actions,
        not_offered=_not_offered,
    )


def _not_offered(name: str) -> str:
    where = "only by the cloud" if name in CLOUD_ONLY else "by this server"
    return f"The action `{name}` is not offered by batchd ({where})"
