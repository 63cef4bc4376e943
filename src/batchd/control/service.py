"""The batch service's operations, shared by the Batch API, the CLI and the console.

Each operation validates, then commits its records (and their events) in one unit of work and
wakes the controller, which does the rest.
"""

from __future__ import annotations

from batchd.control.controller import Controller
from batchd.control.env_service import EnvService
from batchd.control.event_history import EventHistory
from batchd.control.job_service import JobService
from batchd.control.notify import Notifier
from batchd.mq.context import Context


class BatchService:
    """The batch service, in its parts: jobs, compute environments, and the event history."""

    jobs: JobService
    envs: EnvService
    history: EventHistory

    def __init__(self, ctx: Context, controller: Controller, notifier: Notifier) -> None:
        self.jobs = JobService(ctx, controller, notifier)
        self.envs = EnvService(ctx, controller, notifier)
        self.history = EventHistory(ctx, notifier)
