"""A pack: attempts of one task run one after another in one Dask task, each reporting its
start and its end on the event topic, so each keeps its own life; the reports of tiny attempts
share messages (`_Outbox`).

An attempt of a pack can be stopped before it starts: the backend notes it in the scheduler's
metadata (read when the pack starts) and tells every worker (`registry.stop`, for a pack already
running); a stopped attempt is skipped and reported by the backend, not here.

On a scheduler batchd does not run, Dask re-runs the task of a lost worker elsewhere (its
`allowed-failures`): such a pack claims its run first, and a re-run of one that was claimed runs
nothing. It reports its attempts lost instead, and batchd retries them per MaxRetryCount, once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from batchd.compute import node_hold, registry, report, runner
from batchd.compute.instance import InstanceSpec

if TYPE_CHECKING:
    from distributed import Worker

logger = logging.getLogger(__name__)

STOPPED = "batchd-stopped"  # scheduler metadata: {pack id: {attempt key: kill reason}}
CLAIMS = "batchd-claims"  # scheduler metadata: {pack id: id of the worker that runs it}
NODE_LOST = "COMPUTE_NODE_LOST"
HOLD_SECONDS = 0.02  # the longest an ended attempt's report waits for company
HOLD_MAX = 64  # reports in one message, at most


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
    outbox = _Outbox(worker)
    try:
        if worker is not None and len(specs) > 1:  # a pack of one is cancelled as a whole
            for key, reason in _stopped_before(worker, pack_id).items():
                registry.stop(key, reason)
        for spec in specs:
            if _copies_files(spec):
                outbox.flush()  # copies may take a while: what is held goes first
            message = _run(spec, outbox.send_now)
            if message is not None and spec.restart_node:
                node_hold.hold(worker)  # before the end is reported: nothing else starts here
            if message is not None:
                outbox.hold(message)
        outbox.flush()
    finally:
        registry.forget(keys)
    return outbox.unsent


class _Outbox:
    """The reports of a pack's attempts, sent several to a message: an ended attempt's report
    waits until the next attempt has run for a moment (its launch is then announced), until
    HOLD_SECONDS have passed or HOLD_MAX are held, or until the pack ends, whichever is first.
    A run of tiny attempts then costs one message for many, and no report waits behind a
    long attempt."""

    def __init__(self, worker: Worker | None) -> None:
        self._worker = worker
        self._held: list[dict[str, Any]] = []
        self._since = 0.0
        self.unsent: list[dict[str, Any]] = []  # ends that could not be sent: the pack's result

    def hold(self, message: dict[str, Any]) -> None:
        now = time.monotonic()
        if not self._held:
            self._since = now
        self._held.append(message)
        if len(self._held) >= HOLD_MAX or now - self._since >= HOLD_SECONDS:
            self.flush()

    def send_now(self, message: dict[str, Any]) -> None:
        """Send `message`, and what is held along with it."""
        self._held.append(message)
        self.flush()

    def flush(self) -> None:
        held, self._held = self._held, []
        if not held:
            return
        ends = [message for message in held if message["state"] != report.RUNNING]
        if report.send(self._worker, report.batch(held)):
            registry.reported(message["key"] for message in ends)
        else:
            self.unsent += ends


def _run(spec: InstanceSpec, send: Callable[[dict[str, Any]], None]) -> dict[str, Any] | None:
    """The report of one attempt's end, or None when it was stopped before it started; the
    report of its launch goes to `send`."""
    try:
        outcome = runner.run_unless_stopped(spec, send)
    except Exception as error:  # one broken attempt must not take the rest of the pack along
        logger.exception("attempt %s failed in the runner", spec.key)
        return report.failed(spec.key, f"{type(error).__name__}: {error}")
    if isinstance(outcome, str):
        return None
    return report.finished(outcome)


def _copies_files(spec: InstanceSpec) -> bool:
    """Whether the attempt stages a package, inputs, outputs or redirects."""
    redirects = (spec.stdout_redirect, spec.stderr_redirect, spec.stdout_local, spec.stderr_local)
    return bool(spec.package_path or spec.input_mappings or spec.output_mappings or any(redirects))


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
