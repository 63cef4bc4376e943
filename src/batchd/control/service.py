"""The batch service's operations, shared by the Batch API, the CLI and the console.

Each operation validates, then commits its records (and their events) in one unit of work and
wakes the controller, which does the rest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from batchd.control import nodes as node_steps
from batchd.control import spec as spec_builder
from batchd.control.controller import Controller
from batchd.control.effects import Effects
from batchd.control.notify import Notifier
from batchd.control.record import env_event
from batchd.domain import errors, ids, submission
from batchd.domain import instance as machine
from batchd.domain.instance import Instance
from batchd.domain.job import Env, Job, Task
from batchd.domain.node import TERMINABLE, USER_ATTACHED, Node, counts_as_desired
from batchd.domain.scope import Scope
from batchd.domain.states import FINAL, InstanceState, NodeState
from batchd.domain.submission import EnvSubmission, JobSubmission
from batchd.mq.context import Context
from batchd.store.database import Conn, Tx
from batchd.store.repos import envs as env_repo
from batchd.store.repos import events as event_repo
from batchd.store.repos import jobs as job_repo
from batchd.store.repos import topics as topic_repo

TOKEN_WINDOW_MS = 24 * 3600 * 1000
S = InstanceState


def _job_not_found(job_id: str) -> errors.NotFound:
    return errors.NotFound(
        f"job {job_id} does not exist",
        parameter="JobId",
        resource=job_id,
        code="ResourceNotFound.Job",
    )


def _env_not_found(env_id: str) -> errors.NotFound:
    return errors.NotFound(
        f"compute environment {env_id} does not exist",
        parameter="EnvId",
        resource=env_id,
        code="ResourceNotFound.ComputeEnv",
    )


log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobDetail:
    job: Job
    tasks: list[Task]
    task_instance_states: dict[str, dict[InstanceState, int]]
    row: Any  # the stored job row: description, tags, submit info


@dataclass(frozen=True, slots=True)
class EnvDetail:
    env: Env
    nodes: list[Node]
    row: Any
    busy_nodes: set[str]


class BatchService:
    def __init__(self, ctx: Context, controller: Controller, notifier: Notifier) -> None:
        self._ctx = ctx
        self._controller = controller
        self._notifier = notifier

    def _wake_after(self, tx: Tx) -> None:
        """Environments or nodes changed: the controller reads them again once this commits."""
        tx.after_commit(self._controller.wake)

    def _wake_jobs_after(self, tx: Tx, *job_ids: str) -> None:
        """These jobs changed: the controller steps them once this commits (and only those)."""
        tx.after_commit(lambda: self._controller.wake_jobs(*job_ids))

    def _check_notifications(
        self, conn: Conn, scope: Scope, notifications: Sequence[dict[str, Any]]
    ) -> None:
        for notification in notifications:
            name = notification["TopicName"]
            topic = topic_repo.find(conn, scope, name)
            if topic is None:
                raise errors.InvalidParameter(
                    f"topic {name} does not exist in this account and region: create it first",
                    parameter="TopicName",
                    code="InvalidParameter.NotificationTopicName",
                )
            if not topic_repo.subscriptions_of(conn, topic):
                # Accepted (events.md §2.3): a subscriber may be added before the first event.
                log.warning(
                    "topic %s has no subscription yet: its events will be undeliverable "
                    "until one is added",
                    name,
                    extra={"event": "notification_topic_unsubscribed", "topic": name},
                )

    # --- jobs --------------------------------------------------------------------------------

    async def submit_job(self, scope: Scope, request: JobSubmission) -> str:
        submission.check_job(request)
        ctx = self._ctx

        def work(tx: Tx) -> str:
            now_ms = ctx.now_ms()
            earlier = _earlier(tx, scope, "job", request.client_token, now_ms)
            if earlier is not None:
                return earlier
            for task in request.tasks:
                if task.env_id:
                    env = env_repo.find(tx.conn, scope, task.env_id)
                    if env is None or env.anonymous_job_id is not None:
                        raise _env_not_found(task.env_id)
                    if env.deleting:
                        raise errors.PreconditionFailed(
                            f"compute environment {task.env_id} is being deleted",
                            parameter="EnvId",
                            code="UnsupportedOperation.ComputeEnvOperation",
                        )
            self._check_notifications(tx.conn, scope, request.notifications)
            job_id = ids.new_job_id()
            job = Job(
                pk=0,
                job_id=job_id,
                account=scope.account,
                region=scope.region,
                name=request.name,
                priority=request.priority,
                zone=request.zone,
                state=S.SUBMITTED,
                reason="",
                next_action="",
                depend_on=request.depend_on,
                dependences=request.dependences,
                ever_running=False,
                sequence=0,
                created_ms=now_ms,
                end_ms=None,
            )
            task_rows = []
            for position, task in enumerate(request.tasks):
                env_id = task.env_id
                if task.anonymous_env is not None:
                    env_id = self._anonymous_env(tx, scope, job_id, task, request, now_ms)
                task_rows.append(
                    (
                        Task(
                            pk=0,
                            job_pk=0,
                            position=position,
                            name=task.name,
                            state=S.SUBMITTED,
                            instance_num=task.instance_num,
                            env_id=env_id,
                            anonymous=task.anonymous_env is not None,
                            max_retry=task.max_retry,
                            timeout_s=task.timeout_s,
                            failed_action=task.failed_action,
                            max_concurrent=task.max_concurrent,
                            ever_running=False,
                            created_ms=now_ms,
                            end_ms=None,
                        ),
                        task.spec,
                    )
                )
            job_repo.insert_job(
                tx.conn,
                scope,
                job,
                description=request.description,
                state_if_create_failed=request.state_if_create_failed,
                submit_info=request.submitted,
                notifications=request.notifications,
                tags=request.tags,
                task_rows=task_rows,
            )
            if request.client_token:
                job_repo.remember_token(tx.conn, scope, "job", request.client_token, job_id, now_ms)
            self._wake_jobs_after(tx, job_id)
            if any(task.anonymous_env is not None for task in request.tasks):
                self._wake_after(tx)  # its own environment's nodes are to be started
            return job_id

        return await ctx.db.write(work)

    def _anonymous_env(
        self,
        tx: Tx,
        scope: Scope,
        job_id: str,
        task: submission.TaskSubmission,
        request: JobSubmission,
        now_ms: int,
    ) -> str:
        """A task's own environment, sized for its instances, removed when the task ends."""
        size = (task.anonymous_env or {}).get("_size") or (1, 1)
        nodes = min(task.instance_num, task.max_concurrent or task.instance_num, 4)
        env = env_repo.insert_env(
            tx.conn,
            scope,
            Env(
                pk=0,
                env_id=ids.new_env_id(),
                account=scope.account,
                region=scope.region,
                name="",
                description="",
                env_type="MANAGED",
                zone=request.zone,
                desired=nodes,
                cpu=int(size[0]),
                mem_gib=int(size[1]),
                deleting=False,
                anonymous_job_id=job_id,
                sequence=0,
                created_ms=now_ms,
                # What a failed node creation does to the task's waiting instances (§4.6).
                if_creation_failed=request.state_if_create_failed,
            ),
            create_info=dict(task.anonymous_env or {}),
            notifications=request.notifications,
            tags=[],
            # Task.ResourceMaxRetryCount: replacements for failed node creations, default 0.
            resource_max_retry=int(task.spec.get("ResourceMaxRetryCount") or 0),
            anonymous_task=task.name,
        )
        node_steps.request_nodes(tx, env, nodes, now_ms)
        return env.env_id

    async def job(self, scope: Scope, job_id: str) -> JobDetail:
        def work(conn: Conn) -> JobDetail:
            job = job_repo.find(conn, scope, job_id)
            if job is None:
                raise _job_not_found(job_id)
            tasks = job_repo.tasks_of(conn, job.pk)
            counts = {task.name: job_repo.state_counts(conn, task.pk) for task in tasks}
            return JobDetail(job, tasks, counts, job_repo.row_of(conn, job.pk))

        return await self._ctx.db.read(work)

    async def jobs(
        self,
        scope: Scope,
        job_ids: Sequence[str] | None,
        filters: Sequence[tuple[str, list[str]]],
        offset: int,
        limit: int,
    ) -> tuple[int, list[Any], dict[str, list[InstanceState]]]:
        def work(conn: Conn) -> tuple[int, list[Any], dict[str, list[InstanceState]]]:
            total, rows = job_repo.search(conn, scope, job_ids, filters, offset, limit)
            task_states = {
                row.job_id: [t.state for t in job_repo.tasks_of(conn, row.pk)] for row in rows
            }
            return total, rows, task_states

        return await self._ctx.db.read(work)

    async def task(
        self,
        scope: Scope,
        job_id: str,
        task_name: str,
        states: Sequence[InstanceState] | None,
        offset: int,
        limit: int,
    ) -> tuple[Job, Task, list[Instance], dict[InstanceState, int], dict[str, str]]:
        def work(
            conn: Conn,
        ) -> tuple[Job, Task, list[Instance], dict[InstanceState, int], dict[str, str]]:
            job, task = self._require_task(conn, scope, job_id, task_name)
            found = job_repo.instances_of(conn, task.pk, states, offset, limit)
            node_ids = sorted({i.node_id for i in found if i.node_id})
            return (
                job,
                task,
                found,
                job_repo.state_counts(conn, task.pk),
                env_repo.instance_ids(conn, node_ids),
            )

        return await self._ctx.db.read(work)

    @staticmethod
    def _require_task(conn: Conn, scope: Scope, job_id: str, task_name: str) -> tuple[Job, Task]:
        job = job_repo.find(conn, scope, job_id)
        if job is None:
            raise _job_not_found(job_id)
        task = job_repo.task_by_name(conn, job.pk, task_name)
        if task is None:
            raise errors.NotFound(
                f"job {job_id} has no task {task_name}",
                parameter="TaskName",
                resource=task_name,
                code="ResourceNotFound.Task",
            )
        return job, task

    async def logs(
        self,
        scope: Scope,
        job_id: str,
        task_name: str,
        indexes: Sequence[int] | None,
        offset: int,
        limit: int,
    ) -> tuple[int, list[tuple[Instance, bytes, bytes]], Task, Job]:
        def work(conn: Conn) -> tuple[int, list[tuple[Instance, bytes, bytes]], Task, Job]:
            job, task = self._require_task(conn, scope, job_id, task_name)
            if indexes is not None:
                chosen = [i for i in job_repo.instances_of(conn, task.pk) if i.index in indexes]
            else:
                chosen = job_repo.instances_of(conn, task.pk, None, offset, limit)
            stored = job_repo.tails(conn, task.pk, [i.index for i in chosen])
            return (
                task.instance_num,
                [(i, *stored.get(i.index, (b"", b""))) for i in chosen],
                task,
                job,
            )

        total, found, task, job = await self._ctx.db.read(work)
        live = await asyncio.gather(*(self._live_tails(job, task, i) for i, _, _ in found))
        found = [
            (i, *tails) if tails is not None else (i, out, err)
            for (i, out, err), tails in zip(found, live, strict=True)
        ]
        return total, found, task, job

    async def _live_tails(
        self, job: Job, task: Task, instance: Instance
    ) -> tuple[bytes, bytes] | None:
        """The tails of a placed attempt as they are now; tails are stored only when it ends."""
        backend = self._controller.backend
        if backend is None or instance.state not in (S.STARTING, S.RUNNING):
            return None
        key = spec_builder.attempt_key(job.job_id, task.name, instance.index, instance.attempt)
        try:
            return await backend.read_logs(instance.env_id, key)
        except Exception:  # unreadable now: the stored tails answer instead
            log.warning(
                "cannot read the live logs of %s",
                key,
                exc_info=True,
                extra={"event": "live_logs_unreadable", "job_id": job.job_id},
            )
            return None

    async def terminate_job(self, scope: Scope, job_id: str) -> None:
        def work(tx: Tx) -> None:
            job = job_repo.find(tx.conn, scope, job_id)
            if job is None:
                raise _job_not_found(job_id)
            if job.state is S.SUBMITTED:
                raise errors.PreconditionFailed(
                    "a SUBMITTED job cannot be terminated yet: retry in a moment",
                    parameter="JobId",
                    code="UnsupportedOperation",
                )
            if job.state in FINAL:
                return
            job_repo.save_job(tx.conn, dataclasses.replace(job, next_action="TERMINATING"))
            self._wake_jobs_after(tx, job.job_id)

        await self._ctx.db.write(work)

    async def terminate_instance(
        self, scope: Scope, job_id: str, task_name: str, index: int
    ) -> None:
        def work(tx: Tx) -> None:
            job, task = self._require_task(tx.conn, scope, job_id, task_name)
            instance = job_repo.instance_at(tx.conn, task.pk, index)
            if instance is None:
                raise errors.NotFound(
                    f"task {task_name} has no instance {index}",
                    parameter="TaskInstanceIndex",
                    code="ResourceNotFound.TaskInstance",
                )
            if instance.state in FINAL:
                return
            job_repo.request_termination(tx.conn, task.pk, index)
            self._wake_jobs_after(tx, job.job_id)

        await self._ctx.db.write(work)

    async def delete_job(self, scope: Scope, job_id: str) -> None:
        def work(tx: Tx) -> None:
            job = job_repo.find(tx.conn, scope, job_id)
            if job is None:
                raise _job_not_found(job_id)
            unsettled = any(
                state not in FINAL
                for task in job_repo.tasks_of(tx.conn, job.pk)
                for state in job_repo.state_counts(tx.conn, task.pk)
            )
            if job.state not in FINAL or unsettled:
                raise errors.ResourceInUse(
                    f"job {job_id} is {job.state.value}: terminate it and wait until it ends",
                    parameter="JobId",
                    code="ResourceInUse.Job",
                )
            job_repo.delete_job(tx.conn, job)

        await self._ctx.db.write(work)

    async def retry_jobs(self, scope: Scope, job_ids: Sequence[str]) -> None:
        ctx = self._ctx

        def work(tx: Tx) -> None:
            now_ms = ctx.now_ms()
            found = []
            for job_id in job_ids:
                job = job_repo.find(tx.conn, scope, job_id)
                if job is None:
                    raise _job_not_found(job_id)
                if job.state is not S.FAILED:
                    raise errors.PreconditionFailed(
                        f"job {job_id} is {job.state.value}; only FAILED jobs can be retried",
                        parameter="JobIds",
                        code="UnsupportedOperation",
                    )
                found.append(job)
            for job in found:
                for task in job_repo.tasks_of(tx.conn, job.pk):
                    failed = job_repo.instances_of(tx.conn, task.pk, [S.FAILED])
                    reset = [machine.reset_for_retry(i, now_ms)[0] for i in failed]
                    reset = [dataclasses.replace(i, state=S.SUBMITTED) for i in reset]
                    job_repo.save_instances(tx.conn, task.pk, reset)
                    if failed:
                        job_repo.save_task(
                            tx.conn,
                            dataclasses.replace(
                                task, state=S.SUBMITTED, ever_running=False, end_ms=None
                            ),
                        )
                job_repo.save_job(
                    tx.conn,
                    dataclasses.replace(
                        job,
                        state=S.SUBMITTED,
                        reason="",
                        next_action="",
                        ever_running=False,
                        end_ms=None,
                    ),
                )
            self._wake_jobs_after(tx, *(job.job_id for job in found))

        await ctx.db.write(work)

    async def events_of(
        self,
        scope: Scope,
        owner_id: str,
        *,
        after_pk: int = 0,
        offset: int = 0,
        limit: int | None = None,
    ) -> tuple[int, list[event_repo.HistoryEntry]]:
        """The event history of a job or environment (its nodes included), kept after it is
        deleted, oldest first: (how many events after `after_pk`, the page of them from
        `offset`, at most `limit`). NotFound only when the id never had an event in this account
        and region and names no job or environment there."""

        def work(conn: Conn) -> tuple[int, list[event_repo.HistoryEntry]]:
            total = event_repo.count_of_owner(conn, scope, owner_id, after_pk=after_pk)
            if total == 0 and after_pk == 0 and not self._exists(conn, scope, owner_id):
                raise errors.NotFound(
                    f"no job or compute environment {owner_id} in region {scope.region}: "
                    "check the id and the region",
                    resource=owner_id,
                )
            if total == 0 or (limit is not None and limit <= 0):
                return total, []
            entries = event_repo.page_of_owner(
                conn, scope, owner_id, after_pk=after_pk, offset=offset, limit=limit
            )
            return total, entries

        return await self._ctx.db.read(work)

    @staticmethod
    def _exists(conn: Conn, scope: Scope, owner_id: str) -> bool:
        return (
            job_repo.find(conn, scope, owner_id) is not None
            or env_repo.find(conn, scope, owner_id) is not None
        )

    async def replay_events(
        self, scope: Scope, owner_id: str, topic_name: str, event_ids: Sequence[str] = ()
    ) -> int:
        """Publish stored events of a job or environment again, to one topic, in their order
        (all of them, or those named); answers how many were published."""
        notifier = self._notifier

        def work(tx: Tx) -> int:
            if event_ids:
                entries = event_repo.by_ids(tx.conn, scope, list(event_ids))
                missing = set(event_ids) - {e.event.event_id for e in entries}
                strangers = [e.event.event_id for e in entries if e.owner_id != owner_id]
                if missing or strangers:
                    unknown = sorted(missing) + strangers
                    raise errors.NotFound(
                        f"no event {unknown[0]} of {owner_id}: list them with `batchd events "
                        f"{owner_id}`",
                        resource=unknown[0],
                    )
            else:
                entries = event_repo.of_owner(tx.conn, scope, owner_id)
                if not entries:
                    raise errors.NotFound(
                        f"{owner_id} has no stored events in this account and region",
                        resource=owner_id,
                    )
            try:
                for entry in entries:
                    notifier.republish(tx, scope, topic_name, entry.event, owner_id)
            except errors.TopicNotFound:
                raise errors.TopicNotFound(
                    f"topic {topic_name} does not exist in region {scope.region}: create it, "
                    "with a subscription, before replaying events to it",
                    resource=topic_name,
                ) from None
            return len(entries)

        return await self._ctx.db.write(work)

    # --- environments --------------------------------------------------------------------------

    async def create_env(self, scope: Scope, request: EnvSubmission) -> str:
        ctx = self._ctx

        def work(tx: Tx) -> str:
            now_ms = ctx.now_ms()
            earlier = _earlier(tx, scope, "env", request.client_token, now_ms)
            if earlier is not None:
                return earlier
            self._check_notifications(tx.conn, scope, request.notifications)
            env = env_repo.insert_env(
                tx.conn,
                scope,
                Env(
                    pk=0,
                    env_id=ids.new_env_id(),
                    account=scope.account,
                    region=scope.region,
                    name=request.name,
                    description=request.description,
                    env_type=request.env_type,
                    zone=request.zone,
                    desired=request.desired,
                    cpu=request.cpu,
                    mem_gib=request.mem_gib,
                    deleting=False,
                    anonymous_job_id=None,
                    sequence=0,
                    created_ms=now_ms,
                ),
                create_info=request.submitted,
                notifications=request.notifications,
                tags=request.tags,
                resource_max_retry=request.resource_max_retry,
            )
            env_event(tx, self._notifier, env, "COMPUTE_ENV_CREATED", now_ms)
            node_steps.request_nodes(tx, env, request.desired, now_ms)
            if request.client_token:
                job_repo.remember_token(
                    tx.conn, scope, "env", request.client_token, env.env_id, now_ms
                )
            self._wake_after(tx)
            return env.env_id

        return await ctx.db.write(work)

    @staticmethod
    def _require_env(conn: Conn, scope: Scope, env_id: str) -> Env:
        env = env_repo.find(conn, scope, env_id)
        if env is None or env.anonymous_job_id is not None:
            raise _env_not_found(env_id)
        return env

    async def env(self, scope: Scope, env_id: str) -> EnvDetail:
        def work(conn: Conn) -> EnvDetail:
            env = self._require_env(conn, scope, env_id)
            nodes = env_repo.nodes_of(conn, env)
            busy = {node_id for _, _, node_id in _busy(conn, [n.node_id for n in nodes])}
            return EnvDetail(env, nodes, env_repo.row_of(conn, env_id), busy)

        return await self._ctx.db.read(work)

    async def envs(
        self,
        scope: Scope,
        env_ids: Sequence[str] | None,
        filters: Sequence[tuple[str, list[str]]],
        offset: int,
        limit: int,
    ) -> tuple[int, list[EnvDetail]]:
        def work(conn: Conn) -> tuple[int, list[EnvDetail]]:
            total, rows = env_repo.search(conn, scope, env_ids, filters, offset, limit)
            details = []
            for row in rows:
                env = env_repo.by_id(conn, row.env_id)
                assert env is not None
                details.append(EnvDetail(env, env_repo.nodes_of(conn, env), row, set()))
            return total, details

        return await self._ctx.db.read(work)

    async def modify_env(
        self,
        scope: Scope,
        env_id: str,
        desired: int | None,
        name: str | None,
        description: str | None,
    ) -> None:
        ctx = self._ctx

        def work(tx: Tx) -> None:
            now_ms = ctx.now_ms()
            env = self._require_env(tx.conn, scope, env_id)
            if env.deleting:
                raise errors.PreconditionFailed(
                    f"compute environment {env_id} is being deleted",
                    parameter="EnvId",
                    code="UnsupportedOperation.ComputeEnvOperation",
                )
            values: dict[str, Any] = {}
            if name is not None:
                values["name"] = name
            if description is not None:
                values["description"] = description
            if desired is not None and desired != env.desired:
                self._resize(tx, env, desired, now_ms)
                values["desired"] = desired
            if values:
                env_repo.update_env(tx.conn, env, **values)
            self._wake_after(tx)

        await ctx.db.write(work)

    def _resize(self, tx: Tx, env: Env, desired: int, now_ms: int) -> None:
        # DesiredComputeNodeCount counts only the nodes batchd starts, not attached ones.
        nodes = [
            n
            for n in env_repo.nodes_of(tx.conn, env)
            if n.state is not NodeState.DELETING and counts_as_desired(n)
        ]
        if desired > len(nodes):
            node_steps.request_nodes(tx, env, desired - len(nodes), now_ms)
            return
        cut = len(nodes) - desired
        busy = {node_id for _, _, node_id in _busy(tx.conn, [n.node_id for n in nodes])}
        # Idle nodes first, newest first among equals.
        order = sorted(nodes, key=lambda n: (n.node_id in busy, -nodes.index(n)))
        effects = Effects()
        for node in order[:cut]:
            node_steps.start_deleting(
                tx, self._notifier, env, node, now_ms, effects, f"ModifyComputeEnv {env.env_id}"
            )
        self._defer(tx, effects)

    def _defer(self, tx: Tx, effects: Effects) -> None:
        if effects:
            tx.after_commit(lambda: self._controller.submit_effects(effects))

    async def delete_env(self, scope: Scope, env_id: str) -> None:
        def work(tx: Tx) -> None:
            env = self._require_env(tx.conn, scope, env_id)
            if env.deleting:
                raise errors.PreconditionFailed(
                    f"compute environment {env_id} is already being deleted",
                    parameter="EnvId",
                    code="UnsupportedOperation.ComputeEnvAcceptOtherRequest",
                )
            node_ids = [n.node_id for n in env_repo.nodes_of(tx.conn, env)]
            if _busy(tx.conn, node_ids) or _has_queued_work(tx.conn, env.env_id):
                raise errors.PreconditionFailed(
                    f"compute environment {env_id} still runs task instances: wait for them or "
                    "terminate their jobs",
                    parameter="EnvId",
                    code="UnsupportedOperation.ComputeEnvAcceptOtherRequest",
                )
            env_repo.update_env(tx.conn, env, deleting=True)
            self._wake_after(tx)

        await self._ctx.db.write(work)

    async def terminate_nodes(self, scope: Scope, env_id: str, node_ids: Sequence[str]) -> None:
        ctx = self._ctx

        def work(tx: Tx) -> None:
            now_ms = ctx.now_ms()
            env = self._require_env(tx.conn, scope, env_id)
            nodes = {n.node_id: n for n in env_repo.nodes_of(tx.conn, env)}
            for node_id in node_ids:
                node = nodes.get(node_id)
                if node is None:
                    raise errors.NotFound(
                        f"compute node {node_id} is not in {env_id}",
                        parameter="ComputeNodeId",
                        resource=node_id,
                        code="ResourceNotFound.ComputeNode",
                    )
                if node.state is NodeState.DELETING:
                    raise errors.PreconditionFailed(
                        f"compute node {node_id} is already terminating",
                        parameter="ComputeNodeId",
                        code="UnsupportedOperation.ComputeNodeIsTerminating",
                    )
                if node.state not in TERMINABLE:
                    raise errors.PreconditionFailed(
                        f"compute node {node_id} is {node.state.value} and cannot be terminated",
                        parameter="ComputeNodeId",
                        code="UnsupportedOperation.ComputeNodeForbidTerminate",
                    )
            effects = Effects()
            for node_id in node_ids:
                node_steps.start_deleting(
                    tx,
                    self._notifier,
                    env,
                    nodes[node_id],
                    now_ms,
                    effects,
                    f"TerminateComputeNode {node_id}",
                )
            # DesiredComputeNodeCount counts only the nodes batchd starts, not attached ones.
            cut = sum(1 for node_id in node_ids if counts_as_desired(nodes[node_id]))
            env_repo.update_env(tx.conn, env, desired=max(0, env.desired - cut))
            self._defer(tx, effects)
            self._wake_after(tx)

        await ctx.db.write(work)

    # --- external workers (AttachInstances / DetachInstances) ---------------------------------

    async def scheduler_address(self, env: Env) -> str:
        """[batchd] Where an operator points an external worker (`dask worker ADDRESS --name
        NAME`) to attach it; "" when this process runs no compute."""
        backend = self._controller.backend
        if backend is None:
            return ""
        if not env.deleting:
            try:
                await backend.open_env(env.env_id)  # an env without nodes has none yet
            except Exception:
                log.exception(
                    "cannot open the scheduler of %s",
                    env.env_id,
                    extra={"event": "scheduler_open_failed", "env_id": env.env_id},
                )
        return backend.scheduler_address(env.env_id)

    async def attach_instances(
        self, scope: Scope, env_id: str, instance_ids: Sequence[str]
    ) -> list[str]:
        """Make external workers connected to the env's scheduler (named by `instance_ids`) its
        USER_ATTACHED nodes; answers their node ids. They run work once RUNNING."""
        ctx = self._ctx
        backend = self._controller.backend
        if len(set(instance_ids)) != len(instance_ids):
            raise errors.InvalidParameterValue(
                "InstanceIds lists an instance more than once",
                parameter="Instances",
                code="InvalidParameterValue.InstanceIdDuplicated",
            )
        env = await ctx.db.read(lambda conn: self._require_env(conn, scope, env_id))
        address = await self.scheduler_address(env)
        free = backend.external_workers(env_id) if backend is not None else {}

        def work(tx: Tx) -> list[Node]:
            now_ms = ctx.now_ms()
            env = self._require_env(tx.conn, scope, env_id)
            if env.deleting:
                raise errors.PreconditionFailed(
                    f"compute environment {env_id} is being deleted",
                    parameter="EnvId",
                    code="UnsupportedOperation.ComputeEnvOperation",
                )
            used = {n.instance_id: n.node_id for n in env_repo.nodes_of(tx.conn, env)}
            for instance_id in instance_ids:
                if instance_id in used:
                    raise _not_attachable(f"{instance_id} is node {used[instance_id]} already")
                if instance_id not in free or len(instance_id) > 32:
                    raise _not_attachable(
                        f"no free worker named {instance_id!r} is connected to {env_id}: start "
                        f"`dask worker {address or '<SchedulerAddress>'} --name {instance_id} "
                        "--nthreads 1` (a name of at most 32 characters), then attach it"
                    )
            attached = [
                node_steps.attach(
                    tx,
                    env,
                    instance_id,
                    (free[instance_id].cpu, free[instance_id].mem_gib),
                    now_ms,
                    f"AttachInstances {instance_id}",
                )
                for instance_id in instance_ids
            ]
            self._wake_after(tx)
            return attached

        nodes = await ctx.db.write(work)
        assert backend is not None  # every worker named was one of its workers
        await backend.attach_workers(env_id, [(n.node_id, n.instance_id) for n in nodes])
        return [n.node_id for n in nodes]

    async def detach_instances(
        self, scope: Scope, env_id: str, instance_ids: Sequence[str]
    ) -> None:
        """Attached nodes → DELETING → removed; attempts running there fail
        (COMPUTE_NODE_TERMINATED, retried per MaxRetryCount). The worker processes keep
        running: they are the operator's; they only get no more work."""
        ctx = self._ctx

        def work(tx: Tx) -> None:
            now_ms = ctx.now_ms()
            env = self._require_env(tx.conn, scope, env_id)
            nodes = {n.instance_id: n for n in env_repo.nodes_of(tx.conn, env)}
            for instance_id in instance_ids:
                node = nodes.get(instance_id)
                if node is None:
                    raise errors.NotFound(
                        f"no compute node of {env_id} has instance id {instance_id}",
                        parameter="InstanceIds",
                        resource=instance_id,
                        code="ResourceNotFound.ComputeNode",
                    )
                if node.origin != USER_ATTACHED:
                    raise errors.PreconditionFailed(
                        f"{instance_id} is node {node.node_id}, which batchd created: only "
                        "attached instances can be detached; use TerminateComputeNode",
                        parameter="InstanceIds",
                        code="UnsupportedOperation",
                    )
                if node.state is NodeState.DELETING:
                    raise errors.PreconditionFailed(
                        f"{instance_id} is being detached already",
                        parameter="InstanceIds",
                        code="UnsupportedOperation.ComputeNodeIsTerminating",
                    )
            effects = Effects()
            for instance_id in instance_ids:
                node_steps.start_deleting(
                    tx,
                    self._notifier,
                    env,
                    nodes[instance_id],
                    now_ms,
                    effects,
                    f"DetachInstances {instance_id}",
                )
            self._defer(tx, effects)
            self._wake_after(tx)

        await ctx.db.write(work)

    async def activities(
        self, scope: Scope, env_id: str, node_id: str | None, offset: int, limit: int
    ) -> tuple[int, list[Any]]:
        def work(conn: Conn) -> tuple[int, list[Any]]:
            env = self._require_env(conn, scope, env_id)
            return env_repo.activities_of(conn, env, node_id, offset, limit)

        return await self._ctx.db.read(work)


def _not_attachable(message: str) -> errors.PreconditionFailed:
    return errors.PreconditionFailed(
        message, parameter="Instances", code="UnsupportedOperation.InstancesNotAllowToAttach"
    )


def _earlier(tx: Tx, scope: Scope, kind: str, token: str, now_ms: int) -> str | None:
    """The resource an earlier request with this ClientToken created (idempotency, 24 h)."""
    if not token:
        return None
    return job_repo.token_owner(tx.conn, scope, kind, token, now_ms - TOKEN_WINDOW_MS)


def _busy(conn: Conn, node_ids: Sequence[str]) -> list[tuple[int, int, str]]:
    """(job key, task key, node id) of instances in flight on these nodes."""
    if not node_ids:
        return []
    return [
        (job_pk, task_pk, instance.node_id)
        for job_pk, task_pk, index in job_repo.running_on_nodes(conn, node_ids)
        if (instance := job_repo.instance_at(conn, task_pk, index)) is not None
    ]


def _has_queued_work(conn: Conn, env_id: str) -> bool:
    return job_repo.has_unsettled_in_env(conn, env_id)
