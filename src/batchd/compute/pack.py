"""A pack: attempts of one task run one after another in one Dask task, each announcing its
start and its end on the event topic as they happen, so each keeps its own life.

An attempt of a pack can be stopped before it starts: the backend notes it in the scheduler's
metadata (read when the pack starts) and tells every worker (`registry.stop`, for a pack already
running); a stopped attempt is skipped and reported by the backend, not here.

On a scheduler batchd does not run, Dask re-runs the task of a lost worker elsewhere (its
`allowed-failures`): such a pack claims its run first, and a re-run of one that was claimed runs
nothing. It reports its attempts lost instead, and batchd retries them per MaxRetryCount, once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from batchd.compute import node_hold, registry, report, runner
from batchd.compute.instance import InstanceSpec

if TYPE_CHECKING:
    from distributed import Worker

logger = logging.getLogger(__name__)

STOPPED = "batchd-stopped"  # scheduler metadata: {pack id: {attempt key: kill reason}}
CLAIMS = "batchd-claims"  # scheduler metadata: {pack id: id of the worker that runs it}
NODE_LOST = "COMPUTE_NODE_LOST"


def run_pack(
    pack_id: str, specs: Sequence[InstanceSpec], claim: bool = False
) -> list[dict[str, Any]]:
    """The Dask task of a pack: run its attempts in order; returns the reports it could not send.
    `claim`: first claim the run (a re-run by Dask answers every attempt lost)."""
    worker = runner.current_worker()
    if claim and worker is not None and not _claim(worker, pack_id):
        logger.warning("pack %s was re-run by Dask after its worker was lost: skipped", pack_id)
        return [report.failed(spec.key, NODE_LOST) for spec in specs]
    keys = [spec.key for spec in specs]
    registry.expect(keys)  # first: a stop from now on finds them here
    unsent: list[dict[str, Any]] = []
    try:
        if worker is not None and len(specs) > 1:  # a pack of one is cancelled as a whole
            for key, reason in _stopped_before(worker, pack_id).items():
                registry.stop(key, reason)
        for spec in specs:
            message = _run(spec)
            if message is not None and spec.restart_node:
                node_hold.hold(worker)  # before the end is reported: nothing else starts here
            if message is not None and not _send(worker, message):
                unsent.append(message)
    finally:
        registry.forget(keys)
    return unsent


def _run(spec: InstanceSpec) -> dict[str, Any] | None:
    """The report of one attempt, or None when it was stopped before it started."""
    try:
        outcome = runner.run_unless_stopped(spec)
    except Exception as error:  # one broken attempt must not take the rest of the pack along
        logger.exception("attempt %s failed in the runner", spec.key)
        return report.failed(spec.key, f"{type(error).__name__}: {error}")
    if isinstance(outcome, str):
        return None
    return report.finished(outcome)


def _stopped_before(worker: Worker, pack_id: str) -> dict[str, str]:
    from distributed.utils import sync

    stopped = sync(worker.loop, worker.scheduler.get_metadata, keys=[STOPPED, pack_id], default={})
    return dict(stopped)


def _claim(worker: Worker, pack_id: str) -> bool:
    """Claim the run of `pack_id` for this worker process; False when another one had it.

    No two workers race for one claim: Dask re-runs a task only once its worker is gone."""
    from distributed.utils import sync

    holder = sync(worker.loop, worker.scheduler.get_metadata, keys=[CLAIMS, pack_id], default="")
    if holder and holder != worker.id:
        return False
    sync(worker.loop, worker.scheduler.set_metadata, keys=[CLAIMS, pack_id], value=worker.id)
    return True


def _send(worker: Worker | None, message: dict[str, Any]) -> bool:
    if worker is None:
        return False
    try:
        worker.log_event(report.TOPIC, message)
    except Exception as error:  # a closing worker: the pack's return value carries it
        logger.warning("cannot report %s: %s", message["key"], error)
        return False
    return True
