"""The request model of every Batch API action batchd serves, by action name.

Nested types live in `models_common` (shared), `models_env` (environments, EnvData) and
`models_job` (jobs, tasks, templates); `rules` holds the constraints they use. The batchd
extensions (`actions.EXTENSIONS`) have theirs in `models_events`, and in `models_job` for
DescribeTaskInstanceAttempts.
"""

from __future__ import annotations

from collections.abc import Mapping

from batchd.api.tc3 import models_accounts as accounts
from batchd.api.tc3 import models_env as env
from batchd.api.tc3 import models_events as events
from batchd.api.tc3 import models_job as job
from batchd.api.tc3.rules import Wire

REQUESTS: Mapping[str, type[Wire]] = {
    "SubmitJob": job.SubmitJobRequest,
    "DescribeJob": job.DescribeJobRequest,
    "DescribeJobs": job.DescribeJobsRequest,
    "DescribeJobSubmitInfo": job.DescribeJobSubmitInfoRequest,
    "TerminateJob": job.TerminateJobRequest,
    "DeleteJob": job.DeleteJobRequest,
    "RetryJobs": job.RetryJobsRequest,
    "DescribeTask": job.DescribeTaskRequest,
    "DescribeTaskLogs": job.DescribeTaskLogsRequest,
    "TerminateTaskInstance": job.TerminateTaskInstanceRequest,
    "CreateTaskTemplate": job.CreateTaskTemplateRequest,
    "DescribeTaskTemplates": job.DescribeTaskTemplatesRequest,
    "ModifyTaskTemplate": job.ModifyTaskTemplateRequest,
    "DeleteTaskTemplates": job.DeleteTaskTemplatesRequest,
    "CreateComputeEnv": env.CreateComputeEnvRequest,
    "DescribeComputeEnv": env.DescribeComputeEnvRequest,
    "DescribeComputeEnvs": env.DescribeComputeEnvsRequest,
    "DescribeComputeEnvCreateInfo": env.DescribeComputeEnvCreateInfoRequest,
    "DescribeComputeEnvCreateInfos": env.DescribeComputeEnvCreateInfosRequest,
    "ModifyComputeEnv": env.ModifyComputeEnvRequest,
    "DeleteComputeEnv": env.DeleteComputeEnvRequest,
    "DescribeComputeEnvActivities": env.DescribeComputeEnvActivitiesRequest,
    "TerminateComputeNode": env.TerminateComputeNodeRequest,
    "TerminateComputeNodes": env.TerminateComputeNodesRequest,
    "AttachInstances": env.AttachInstancesRequest,
    "DetachInstances": env.DetachInstancesRequest,
}
"""batch-api.md §2: action name -> request model (the cloud-only actions have none)."""

EXTENSION_REQUESTS: Mapping[str, type[Wire]] = {
    "DescribeEvents": events.DescribeEventsRequest,
    "ReplayEvents": events.ReplayEventsRequest,
    "DescribeTaskInstanceAttempts": job.DescribeTaskInstanceAttemptsRequest,
    "CreateAccount": accounts.CreateAccountRequest,
    "DescribeAccounts": accounts.DescribeAccountsRequest,
    "CreateApiKey": accounts.CreateApiKeyRequest,
    "DescribeApiKeys": accounts.DescribeApiKeysRequest,
    "DisableApiKey": accounts.ApiKeyRequest,
    "EnableApiKey": accounts.ApiKeyRequest,
    "DeleteApiKey": accounts.ApiKeyRequest,
    "DescribeAuditEvents": accounts.DescribeAuditEventsRequest,
}
"""The batchd extensions (`actions.EXTENSIONS`): action name -> request model."""
