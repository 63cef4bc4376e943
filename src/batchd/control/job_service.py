"""The batch service's job operations: submit, describe, read logs, terminate, delete, retry."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from batchd.control import env_service
from batchd.control import nodes as node_steps
from batchd.control import spec as spec_builder
from batchd.control.service_base import ServiceBase
from batchd.domain import errors, ids, submission
from batchd.domain import instance as machine
from batchd.domain.instance import Instance
from batchd.domain.job import Env, Job, Task
from batchd.domain.scope import Scope
from batchd.domain.states import FINAL, InstanceState
from batchd.domain.submission import JobSubmission
from batchd.store.database import Conn, Tx
from batchd.store.repos import client_tokens as client_token_repo
from batchd.store.repos import envs as env_repo
from batchd.store.repos import instances as instance_repo
from batchd.store.repos import jobs as job_repo
from batchd.store.repos import tasks as task_repo

S = InstanceState

log = logging.getLogger(__name__)


def _job_not_found(job_id: str) -> errors.NotFound:
    return errors.NotFound(
        f"job {job_id} does not exist",
        parameter="JobId",
        resource=job_id,
        code="ResourceNotFound.Job",
    )


@dataclass(frozen=True, slots=True)
class JobDetail:
    job: Job
    tasks: list[Task]
    task_instance_states: dict[str, dict[InstanceState, int]]
    row: Any  # the stored job row: description, tags, submit info


class JobService(ServiceBase):
    """Jobs, their tasks and task instances."""

    def _wake_jobs_after(self, tx: Tx, *job_ids: str) -> None:
        """These jobs changed: the controller steps them once this commits (and only those)."""
        tx.announce("jobs", *job_ids)

    async def submit_job(self, scope: Scope, request: JobSubmission) -> str:
        submission.check_job(request)
        ctx = self._ctx

        def work(tx: Tx) -> str:
            now_ms = ctx.now_ms()
            earlier = self._earlier(tx, scope, "job", request.client_token, now_ms)
            if earlier is not None:
                return earlier
            for task in request.tasks:
                if task.env_id:
                    env_service.require_open_env(tx.conn, scope, task.env_id)
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
                client_token_repo.remember_token(
                    tx.conn, scope, "job", request.client_token, job_id, now_ms
                )
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
        self._check_nodes_can_start(env.zone, nodes)
        node_steps.request_nodes(tx, env, nodes, now_ms)
        return env.env_id

    async def job(self, scope: Scope, job_id: str) -> JobDetail:
        def work(conn: Conn) -> JobDetail:
            job = job_repo.find(conn, scope, job_id)
            if job is None:
                raise _job_not_found(job_id)
            tasks = task_repo.tasks_of(conn, job.pk)
            counts = {task.name: instance_repo.state_counts(conn, task.pk) for task in tasks}
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
                row.job_id: [t.state for t in task_repo.tasks_of(conn, row.pk)] for row in rows
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
            found = instance_repo.instances_of(conn, task.pk, states, offset, limit)
            node_ids = sorted({i.node_id for i in found if i.node_id})
            return (
                job,
                task,
                found,
                instance_repo.state_counts(conn, task.pk),
                env_repo.instance_ids(conn, node_ids),
            )

        return await self._ctx.db.read(work)

    @staticmethod
    def _require_task(conn: Conn, scope: Scope, job_id: str, task_name: str) -> tuple[Job, Task]:
        job = job_repo.find(conn, scope, job_id)
        if job is None:
            raise _job_not_found(job_id)
        task = task_repo.task_by_name(conn, job.pk, task_name)
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
                chosen = [
                    i for i in instance_repo.instances_of(conn, task.pk) if i.index in indexes
                ]
            else:
                chosen = instance_repo.instances_of(conn, task.pk, None, offset, limit)
            stored = instance_repo.tails(conn, task.pk, [i.index for i in chosen])
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
            instance = instance_repo.instance_at(tx.conn, task.pk, index)
            if instance is None:
                raise errors.NotFound(
                    f"task {task_name} has no instance {index}",
                    parameter="TaskInstanceIndex",
                    code="ResourceNotFound.TaskInstance",
                )
            if instance.state in FINAL:
                return
            instance_repo.request_termination(tx.conn, task.pk, index)
            self._wake_jobs_after(tx, job.job_id)

        await self._ctx.db.write(work)

    async def delete_job(self, scope: Scope, job_id: str) -> None:
        def work(tx: Tx) -> None:
            job = job_repo.find(tx.conn, scope, job_id)
            if job is None:
                raise _job_not_found(job_id)
            unsettled = any(
                state not in FINAL
                for task in task_repo.tasks_of(tx.conn, job.pk)
                for state in instance_repo.state_counts(tx.conn, task.pk)
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
                for task in task_repo.tasks_of(tx.conn, job.pk):
                    failed = instance_repo.instances_of(tx.conn, task.pk, [S.FAILED])
                    reset = [machine.reset_for_retry(i, now_ms)[0] for i in failed]
                    reset = [dataclasses.replace(i, state=S.SUBMITTED) for i in reset]
                    instance_repo.save_instances(tx.conn, task.pk, reset)
                    if failed:
                        task_repo.save_task(
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
