"""The state counts of Batch answers (TaskMetrics, ComputeNodeMetrics…) as one line."""

from __future__ import annotations

# TaskMetrics / TaskInstanceMetrics keys and the states they count, in lifecycle order.
METRICS = (
    ("SubmittedCount", "SUBMITTED"),
    ("PendingCount", "PENDING"),
    ("RunnableCount", "RUNNABLE"),
    ("StartingCount", "STARTING"),
    ("RunningCount", "RUNNING"),
    ("SucceedCount", "SUCCEED"),
    ("FailedInterruptedCount", "FAILED_INTERRUPTED"),
    ("FailedCount", "FAILED"),
)
NODE_METRICS = (
    ("SubmittedCount", "SUBMITTED"),
    ("CreatingCount", "CREATING"),
    ("CreationFailedCount", "CREATION_FAILED"),
    ("CreatedCount", "CREATED"),
    ("RunningCount", "RUNNING"),
    ("AbnormalCount", "ABNORMAL"),
    ("DeletingCount", "DELETING"),
)


def counts(metrics: dict[str, int], names: tuple[tuple[str, str], ...] = METRICS) -> str:
    """`RUNNING 1 SUCCEED 2`: the states that have any."""
    return " ".join(f"{state} {metrics[key]}" for key, state in names if metrics.get(key))
