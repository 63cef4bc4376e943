"""The bulk queries a controller tick reads jobs, tasks, instances and nodes with."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine

from batchd.domain.instance import Instance
from batchd.domain.job import Env, Job, Task
from batchd.domain.node import Node
from batchd.domain.scope import Scope
from batchd.domain.states import DependOn, FailedAction, InstanceState, NodeState
from batchd.store import database, migrate
from batchd.store.repos import envs as env_repo
from batchd.store.repos import instances as instance_repo
from batchd.store.repos import jobs as job_repo
from batchd.store.repos import tasks as task_repo

S = InstanceState
SCOPE = Scope("1250000001", "ap-guangzhou")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    writer, reader = database.create_engines(database_url)
    migrate.upgrade(writer)
    try:
        yield writer
    finally:
        writer.dispose()
        reader.dispose()


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection, connection.begin():
        yield connection


def _job(job_id: str, *, priority: int = 0, created_ms: int = 1) -> Job:
    return Job(
        pk=0,
        job_id=job_id,
        account=SCOPE.account,
        region=SCOPE.region,
        name="",
        priority=priority,
        zone="ap-guangzhou-2",
        state=S.SUBMITTED,
        reason="",
        next_action="",
        depend_on=DependOn.PRE_TASK_SUCCEED,
        dependences=(),
        ever_running=False,
        sequence=0,
        created_ms=created_ms,
        end_ms=None,
    )


def _task(position: int, name: str, instances: int, env_id: str = "env-aaaaaaaa") -> Task:
    return Task(
        pk=0,
        job_pk=0,
        position=position,
        name=name,
        state=S.SUBMITTED,
        instance_num=instances,
        env_id=env_id,
        anonymous=False,
        max_retry=0,
        timeout_s=60,
        failed_action=FailedAction.TERMINATE,
        max_concurrent=0,
        ever_running=False,
        created_ms=1,
        end_ms=None,
    )


def _submit(conn: Connection, job: Job, *tasks: Task) -> int:
    return job_repo.insert_job(
        conn,
        SCOPE,
        job,
        description="",
        state_if_create_failed="FAILED",
        submit_info={},
        notifications=[],
        tags=[],
        task_rows=[(task, {"TaskName": task.name}) for task in tasks],
    )


def _env(conn: Connection, env_id: str, *, job_id: str | None = None, task: str = "") -> Env:
    return env_repo.insert_env(
        conn,
        SCOPE,
        Env(
            pk=0,
            env_id=env_id,
            account=SCOPE.account,
            region=SCOPE.region,
            name="",
            description="",
            env_type="MANAGED",
            zone="ap-guangzhou-2",
            desired=0,
            cpu=1,
            mem_gib=1,
            deleting=False,
            anonymous_job_id=job_id,
            sequence=0,
            created_ms=1,
        ),
        create_info={},
        notifications=[],
        tags=[],
        resource_max_retry=0,
        anonymous_task=task or None,
    )


def _set(conn: Connection, task_pk: int, *instances: Instance) -> None:
    instance_repo.save_instances(conn, task_pk, list(instances))


def test_active_jobs_come_by_id_in_stepping_order(conn: Connection) -> None:
    _submit(conn, _job("job-low00001", priority=0, created_ms=1), _task(0, "t", 1))
    _submit(conn, _job("job-high0001", priority=5, created_ms=2), _task(0, "t", 1))
    done_pk = _submit(conn, _job("job-done0001", priority=9), _task(0, "t", 1))
    done = dataclasses.replace(job_repo.by_pk(conn, done_pk), state=S.SUCCEED, end_ms=5)
    job_repo.save_job(conn, done)

    assert job_repo.active_ids(conn) == ["job-high0001", "job-low00001"]
    found = job_repo.active_by_ids(conn, ["job-low00001", "job-done0001", "job-high0001", "x"])
    assert [job.job_id for job in found] == ["job-high0001", "job-low00001"]
    assert job_repo.active_by_ids(conn, []) == []


def test_active_jobs_of_environments(conn: Connection) -> None:
    _submit(conn, _job("job-one00001"), _task(0, "a", 1, "env-one00001"))
    _submit(
        conn,
        _job("job-two00001"),
        _task(0, "a", 1, "env-two00001"),
        _task(1, "b", 1, "env-one00001"),
    )
    _submit(conn, _job("job-three001"), _task(0, "a", 1, "env-three001"))

    assert sorted(job_repo.active_in_envs(conn, ["env-one00001"])) == [
        "job-one00001",
        "job-two00001",
    ]
    assert job_repo.active_in_envs(conn, ["env-none0001"]) == []
    assert job_repo.active_in_envs(conn, []) == []


def test_tasks_counts_and_termination_requests_in_bulk(conn: Connection) -> None:
    single = _submit(conn, _job("job-single01"), _task(0, "only", 3))
    several = _submit(conn, _job("job-several1"), _task(0, "a", 2), _task(1, "b", 4))
    tasks, specs = task_repo.tasks_of_jobs(conn, [single, several])
    assert [t.name for t in tasks[single]] == ["only"]
    assert [t.name for t in tasks[several]] == ["a", "b"]
    only, a, b = tasks[single][0], *tasks[several]
    assert specs[b.pk] == '{"TaskName": "b"}'

    _set(conn, only.pk, Instance(index=0, state=S.RUNNING), Instance(index=2, state=S.SUCCEED))
    _set(conn, b.pk, Instance(index=1, state=S.FAILED), Instance(index=3, state=S.STARTING))
    instance_repo.request_termination(conn, b.pk, 3)
    instance_repo.request_termination(conn, b.pk, 1)  # already FAILED: nothing left to do

    counts = instance_repo.state_counts_of_jobs(conn, tasks)
    assert counts[only.pk] == {S.SUBMITTED: 1, S.RUNNING: 1, S.SUCCEED: 1}
    assert counts[a.pk] == {S.SUBMITTED: 2}
    assert counts[b.pk] == {S.SUBMITTED: 2, S.FAILED: 1, S.STARTING: 1}
    assert counts == {t.pk: instance_repo.state_counts(conn, t.pk) for t in (only, a, b)}

    requests = instance_repo.termination_requests_of(conn, [single, several])
    assert requests == {single: set(), several: {(b.pk, 3)}}


def test_instances_where_reads_only_what_is_asked(conn: Connection) -> None:
    job_pk = _submit(conn, _job("job-where001"), _task(0, "t", 6))
    (task,) = task_repo.tasks_of(conn, job_pk)
    _set(
        conn,
        task.pk,
        Instance(index=1, state=S.RUNNABLE, reason="ENV_UNAVAILABLE"),
        Instance(index=2, state=S.RUNNABLE),
        Instance(index=4, state=S.RUNNABLE),
        Instance(index=5, state=S.STARTING, attempt=1),
    )

    def indexes(found: list[Instance]) -> list[int]:
        return [i.index for i in found]

    assert indexes(instance_repo.instances_where(conn, task.pk, [S.RUNNABLE])) == [1, 2, 4]
    assert indexes(instance_repo.instances_where(conn, task.pk, [S.RUNNABLE], limit=2)) == [1, 2]
    unnoted = instance_repo.instances_where(
        conn, task.pk, [S.RUNNABLE], not_reason="ENV_UNAVAILABLE"
    )
    assert indexes(unnoted) == [2, 4]
    by_index = instance_repo.instances_where(conn, task.pk, [S.STARTING, S.RUNNING], indexes=[0, 5])
    assert by_index == [Instance(index=5, state=S.STARTING, attempt=1, create_ms=1)]
    assert instance_repo.instances_where(conn, task.pk, [S.STARTING], indexes=[]) == []


def test_instances_are_saved_with_their_output_tails(conn: Connection) -> None:
    job_pk = _submit(conn, _job("job-tails001"), _task(0, "t", 3))
    (task,) = task_repo.tasks_of(conn, job_pk)
    instance_repo.save_instances(
        conn,
        task.pk,
        [Instance(index=0, state=S.SUCCEED, exit_code=0), Instance(index=1, state=S.RUNNING)],
        {0: (b"out", b"err"), 2: (b"late", b"")},
    )
    states = [i.state for i in instance_repo.instances_of(conn, task.pk)]
    assert states == [S.SUCCEED, S.RUNNING, S.SUBMITTED]
    assert instance_repo.tails(conn, task.pk, [0, 1, 2]) == {
        0: (b"out", b"err"),
        1: (b"", b""),
        2: (b"late", b""),
    }


def test_node_counts_by_environment_and_state(conn: Connection) -> None:
    one = _env(conn, "env-count001")
    two = _env(conn, "env-count002")
    placed = [
        (one, NodeState.RUNNING),
        (one, NodeState.RUNNING),
        (one, NodeState.SUBMITTED),
        (two, NodeState.DELETING),
    ]
    for n, (env, state) in enumerate(placed):
        node = Node(node_id=f"node-{n:08d}", instance_id=f"ins-{n:08d}", env_id=env.env_id)
        env_repo.insert_node(conn, env, dataclasses.replace(node, state=state), 1)

    assert env_repo.node_counts(conn) == {
        one.pk: {NodeState.RUNNING: 2, NodeState.SUBMITTED: 1},
        two.pk: {NodeState.DELETING: 1},
    }


def test_retiring_anonymous_environments_only_of_the_named_jobs(conn: Connection) -> None:
    for job_id in ("job-anon0001", "job-anon0002"):
        job_pk = _submit(conn, _job(job_id), _task(0, "t", 1, f"env-{job_id[4:]}"))
        _env(conn, f"env-{job_id[4:]}", job_id=job_id, task="t")
        (task,) = task_repo.tasks_of(conn, job_pk)
        task_repo.save_task(conn, dataclasses.replace(task, state=S.SUCCEED, end_ms=2))

    assert env_repo.retire_finished_anonymous(conn, []) == 0
    assert env_repo.retire_finished_anonymous(conn, ["job-anon0002"]) == 1
    deleting = {e.env_id: e.deleting for e in env_repo.all_envs(conn)}
    assert deleting == {"env-anon0001": False, "env-anon0002": True}
    assert env_repo.retire_finished_anonymous(conn) == 1
    assert all(e.deleting for e in env_repo.all_envs(conn))
