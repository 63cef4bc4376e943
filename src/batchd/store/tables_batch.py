"""SQLAlchemy tables of the batch service: environments, nodes, jobs, tasks, instances, events."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from batchd.store.tables import Id, metadata

envs = Table(
    "envs",
    metadata,
    Column("pk", Id, primary_key=True, autoincrement=True),
    Column("env_id", String(32), nullable=False, unique=True),
    Column("account", String(64), nullable=False),
    Column("region", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("description", Text, nullable=False),
    Column("env_type", String(32), nullable=False),
    Column("zone", String(64), nullable=False),
    Column("desired", Integer, nullable=False),
    Column("cpu", Integer, nullable=False),
    Column("mem_gib", Integer, nullable=False),
    Column("anonymous_job_id", String(32), nullable=True),  # set: the env of one job's task
    Column("anonymous_task", String(64), nullable=True),
    Column("deleting", Boolean, nullable=False),
    Column("create_info", Text, nullable=False),  # JSON: the environment as created
    Column("notifications", Text, nullable=False),  # JSON, canonical spelling
    Column("tags", Text, nullable=False),  # JSON
    Column("resource_max_retry", Integer, nullable=False),
    # Node creations that failed; each is replaced while it is ≤ resource_max_retry (RECREATE).
    Column("creation_failures", Integer, nullable=False, server_default="0"),
    # Anonymous envs: the job's StateIfCreateCvmFailed (FAILED | RUNNABLE); "" for named envs.
    Column("if_creation_failed", String(16), nullable=False, server_default=""),
    Column("sequence", Integer, nullable=False),  # last event sequence of this env
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_envs_account_region", "account", "region"),
)

nodes = Table(
    "nodes",
    metadata,
    Column("pk", Id, primary_key=True, autoincrement=True),
    Column("node_id", String(32), nullable=False, unique=True),
    Column("env_pk", Id, ForeignKey("envs.pk", ondelete="CASCADE"), nullable=False),
    Column("instance_id", String(32), nullable=False),
    Column("state", String(32), nullable=False),
    Column("cpu", Integer, nullable=False),
    Column("mem_gib", Integer, nullable=False),
    Column("address", String(256), nullable=False),
    Column("reason", Text, nullable=False),
    Column("origin", String(32), nullable=False),
    Column("requested_ms", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=True),
    Column("sequence", Integer, nullable=False),
    Column("start_after_ms", BigInteger, nullable=True),  # a replacement's wait (RECREATE)
    Index("ix_nodes_env", "env_pk"),
)

activities = Table(
    "activities",
    metadata,
    Column("pk", Id, primary_key=True, autoincrement=True),
    Column("activity_id", String(32), nullable=False, unique=True),
    Column("env_pk", Id, ForeignKey("envs.pk", ondelete="CASCADE"), nullable=False),
    Column("node_id", String(32), nullable=False),
    Column("instance_id", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("cause", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=True),
    Index("ix_activities_env", "env_pk"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("pk", Id, primary_key=True, autoincrement=True),
    Column("job_id", String(32), nullable=False, unique=True),
    Column("account", String(64), nullable=False),
    Column("region", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("description", Text, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("zone", String(64), nullable=False),
    Column("state", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("next_action", String(16), nullable=False),
    Column("depend_on", String(48), nullable=False),
    Column("state_if_create_failed", String(16), nullable=False),
    Column("submit_info", Text, nullable=False),  # JSON: the Job as submitted
    Column("dependences", Text, nullable=False),  # JSON: [[start, end], ...]
    Column("notifications", Text, nullable=False),  # JSON, canonical spelling
    Column("tags", Text, nullable=False),  # JSON
    Column("ever_running", Boolean, nullable=False),
    Column("sequence", Integer, nullable=False),  # last event sequence of this job
    Column("created_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=True),
    Index("ix_jobs_account_region_created", "account", "region", "created_ms"),
    Index("ix_jobs_state", "state"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("pk", Id, primary_key=True, autoincrement=True),
    Column("job_pk", Id, ForeignKey("jobs.pk", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", String(64), nullable=False),
    Column("state", String(32), nullable=False),
    Column("instance_num", Integer, nullable=False),
    Column("env_id", String(32), nullable=False),  # named env, or the anonymous env once created
    Column("anonymous", Boolean, nullable=False),
    Column("spec", Text, nullable=False),  # JSON: the Task as submitted
    Column("max_retry", Integer, nullable=False),
    Column("timeout_s", Integer, nullable=False),
    Column("failed_action", String(16), nullable=False),
    Column("max_concurrent", Integer, nullable=False),  # 0: unlimited
    Column("ever_running", Boolean, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=True),
    UniqueConstraint("job_pk", "name"),
)

instances = Table(
    "instances",
    metadata,
    Column("pk", Id, primary_key=True, autoincrement=True),
    Column("task_pk", Id, ForeignKey("tasks.pk", ondelete="CASCADE"), nullable=False),
    Column("job_pk", Id, nullable=False),
    Column("idx", Integer, nullable=False),
    Column("state", String(32), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("exit_code", Integer, nullable=True),
    Column("reason", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Column("node_id", String(32), nullable=False),
    Column("env_id", String(32), nullable=False),
    Column("create_ms", BigInteger, nullable=False),
    Column("launch_ms", BigInteger, nullable=True),
    Column("running_ms", BigInteger, nullable=True),
    Column("end_ms", BigInteger, nullable=True),
    Column("stdout_tail", LargeBinary, nullable=False),
    Column("stderr_tail", LargeBinary, nullable=False),
    Column("terminate_requested", Boolean, nullable=False),  # TerminateTaskInstance, not yet done
    UniqueConstraint("task_pk", "idx"),
    Index("ix_instances_job_state", "job_pk", "state"),
    Index("ix_instances_env_launch", "env_id", "launch_ms"),
)

events = Table(
    "events",
    metadata,
    Column("pk", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("account", String(64), nullable=False),
    Column("region", String(64), nullable=False),
    Column("resource_id", String(32), nullable=False),  # job, env or node id
    Column("owner_id", String(32), nullable=False),  # the job or env whose notifications apply
    Column("name", String(48), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("body", Text, nullable=False),  # JSON: the `Batch` object of events.md §3
    Column("created_ms", BigInteger, nullable=False),
    # NULL when published to every topic that asked for it; otherwise why not (events.md §4.3)
    Column("undeliverable", Text, nullable=True),
    Index("ix_events_owner", "owner_id", "pk"),
    Index("ix_events_undeliverable", "undeliverable"),
)

client_tokens = Table(
    "client_tokens",
    metadata,
    Column("pk", Id, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    Column("region", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("token", String(64), nullable=False),
    Column("resource_id", String(32), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("account", "region", "kind", "token"),
)

task_templates = Table(
    "task_templates",
    metadata,
    Column("pk", Id, primary_key=True, autoincrement=True),
    Column("template_id", String(32), nullable=False, unique=True),
    Column("account", String(64), nullable=False),
    Column("region", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("description", Text, nullable=False),
    Column("info", Text, nullable=False),  # JSON: the Task
    Column("tags", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)
