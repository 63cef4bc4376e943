"""The action names of Batch API version 2017-03-12, and which of them only the cloud can serve."""

from __future__ import annotations

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
