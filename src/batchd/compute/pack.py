"""A pack: attempts of one task run one after another in one Dask task, each announcing its
start and its end on the event topic as they happen, so each keeps its own life.

An attempt of a pack can be stopped before it starts: the backend notes it in the scheduler's
metadata (read when the pack starts) and tells every worker (`registry.stop`, for a pack already
running); a stopped attempt is skipped and reported by the backend, not here.
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


def run_pack(pack_id: str, specs: Sequence[InstanceSpec]) -> list[dict[str, Any]]:
    """The Dask task of a pack: run its attempts in order; returns the reports it could not send."""
    worker = runner.current_worker()
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


def _send(worker: Worker | None, message: dict[str, Any]) -> bool:
    if worker is None:
        return False
    try:
        worker.log_event(report.TOPIC, message)
    except Exception as error:  # a closing worker: the pack's return value carries it
        logger.warning("cannot report %s: %s", message["key"], error)
        return False
    return True
