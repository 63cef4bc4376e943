"""The batch service's compute environment operations: environments, their nodes, and the external
workers attached to them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from batchd.control import nodes as node_steps
from batchd.control.effects import Effects
from batchd.control.record import env_event
from batchd.control.service_base import ServiceBase
from batchd.domain import errors, ids
from batchd.domain.job import Env
from batchd.domain.node import TERMINABLE, USER_ATTACHED, Node, counts_as_desired
from batchd.domain.scope import Scope
from batchd.domain.states import NodeState
from batchd.domain.submission import EnvSubmission
from batchd.store.database import Conn, Tx
from batchd.store.repos import client_tokens as client_token_repo
from batchd.store.repos import envs as env_repo
from batchd.store.repos import instances as instance_repo

log = logging.getLogger(__name__)


def _env_not_found(env_id: str) -> errors.NotFound:
    return errors.NotFound(
        f"compute environment {env_id} does not exist",
        parameter="EnvId",
        resource=env_id,
        code="ResourceNotFound.ComputeEnv",
    )


@dataclass(frozen=True, slots=True)
class EnvDetail:
    env: Env
    nodes: list[Node]
    row: Any
    busy_nodes: set[str]


def require_env(conn: Conn, scope: Scope, env_id: str) -> Env:
    """The named environment of this account and region (not a task's own)."""
    env = env_repo.find(conn, scope, env_id)
    if env is None or env.anonymous_job_id is not None:
        raise _env_not_found(env_id)
    return env


def require_open_env(conn: Conn, scope: Scope, env_id: str) -> Env:
    """The named environment, refused while it is being deleted."""
    env = require_env(conn, scope, env_id)
    if env.deleting:
        raise errors.PreconditionFailed(
            f"compute environment {env_id} is being deleted",
            parameter="EnvId",
            code="UnsupportedOperation.ComputeEnvOperation",
        )
    return env


class EnvService(ServiceBase):
    """Compute environments, their nodes, and the external workers attached as nodes."""

    async def create_env(self, scope: Scope, request: EnvSubmission) -> str:
        ctx = self._ctx

        def work(tx: Tx) -> str:
            now_ms = ctx.now_ms()
            earlier = self._earlier(tx, scope, "env", request.client_token, now_ms)
            if earlier is not None:
                return earlier
            self._check_nodes_can_start(request.zone, request.desired)
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
                client_token_repo.remember_token(
                    tx.conn, scope, "env", request.client_token, env.env_id, now_ms
                )
            self._wake_after(tx)
            return env.env_id

        return await ctx.db.write(work)

    async def env(self, scope: Scope, env_id: str) -> EnvDetail:
        def work(conn: Conn) -> EnvDetail:
            env = require_env(conn, scope, env_id)
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
            env = require_open_env(tx.conn, scope, env_id)
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
            self._check_nodes_can_start(env.zone, desired - len(nodes))
            node_steps.request_nodes(tx, env, desired - len(nodes), now_ms)
            return
        cut = len(nodes) - desired
        busy = {node_id for _, _, node_id in _busy(tx.conn, [n.node_id for n in nodes])}
        # Idle nodes first, newest first among equals.
        order = sorted(nodes, key=lambda n: (n.node_id in busy, -nodes.index(n)))
        self._start_deleting(
            tx, env, [(node, f"ModifyComputeEnv {env.env_id}") for node in order[:cut]], now_ms
        )

    def _start_deleting(
        self, tx: Tx, env: Env, doomed: Sequence[tuple[Node, str]], now_ms: int
    ) -> None:
        """These nodes (each with its cause) → DELETING; their effects run once this commits."""
        effects = Effects()
        for node, cause in doomed:
            node_steps.start_deleting(tx, self._notifier, env, node, now_ms, effects, cause)
        for env_id, node_ids in effects.remove_nodes.items():
            tx.announce("remove_nodes", env_id, *node_ids)  # to the leader's controller

    async def delete_env(self, scope: Scope, env_id: str) -> None:
        def work(tx: Tx) -> None:
            env = require_env(tx.conn, scope, env_id)
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
            env = require_env(tx.conn, scope, env_id)
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
            doomed = [(nodes[node_id], f"TerminateComputeNode {node_id}") for node_id in node_ids]
            self._start_deleting(tx, env, doomed, now_ms)
            # DesiredComputeNodeCount counts only the nodes batchd starts, not attached ones.
            cut = sum(1 for node_id in node_ids if counts_as_desired(nodes[node_id]))
            env_repo.update_env(tx.conn, env, desired=max(0, env.desired - cut))
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
        env = await ctx.db.read(lambda conn: require_env(conn, scope, env_id))
        address = await self.scheduler_address(env)
        free = await backend.external_workers(env_id) if backend is not None else {}

        def work(tx: Tx) -> list[Node]:
            now_ms = ctx.now_ms()
            env = require_open_env(tx.conn, scope, env_id)
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
            env = require_env(tx.conn, scope, env_id)
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
            doomed = [(nodes[i], f"DetachInstances {i}") for i in instance_ids]
            self._start_deleting(tx, env, doomed, now_ms)
            self._wake_after(tx)

        await ctx.db.write(work)

    async def activities(
        self,
        scope: Scope,
        env_id: str,
        node_ids: Sequence[str] | None,
        offset: int,
        limit: int,
    ) -> tuple[int, list[Any]]:
        def work(conn: Conn) -> tuple[int, list[Any]]:
            env = require_env(conn, scope, env_id)
            return env_repo.activities_of(conn, env, node_ids, offset, limit)

        return await self._ctx.db.read(work)

    async def busy(
        self, scope: Scope, env_id: str, since_ms: int, limit: int = 5000
    ) -> list[tuple[str, int, int | None]]:
        """(node id, launch, end or None) of what ran on the environment's nodes since
        `since_ms` (its instances' latest attempts), newest first."""

        def work(conn: Conn) -> list[tuple[str, int, int | None]]:
            require_env(conn, scope, env_id)
            return instance_repo.busy_on_env(conn, env_id, since_ms, limit)

        return await self._ctx.db.read(work)


def _not_attachable(message: str) -> errors.PreconditionFailed:
    return errors.PreconditionFailed(
        message, parameter="Instances", code="UnsupportedOperation.InstancesNotAllowToAttach"
    )


def _busy(conn: Conn, node_ids: Sequence[str]) -> list[tuple[int, int, str]]:
    """(job key, task key, node id) of instances in flight on these nodes."""
    if not node_ids:
        return []
    return [
        (job_pk, task_pk, instance.node_id)
        for job_pk, task_pk, index in instance_repo.running_on_nodes(conn, node_ids)
        if (instance := instance_repo.instance_at(conn, task_pk, index)) is not None
    ]


def _has_queued_work(conn: Conn, env_id: str) -> bool:
    return instance_repo.has_unsettled_in_env(conn, env_id)
