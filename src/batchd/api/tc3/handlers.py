"""The Batch API actions: request models in, the core's operations, answers out."""

from __future__ import annotations

from pydantic import BaseModel

from batchd.api.tc3 import (
    handlers_accounts,
    handlers_env,
    handlers_events,
    handlers_job,
    handlers_template,
)
from batchd.api.tc3.dispatch import Handler
from batchd.control.accounts import AccountService
from batchd.control.audit_trail import AuditTrail
from batchd.control.service import BatchService
from batchd.control.templates import TemplateService


def build(
    service: BatchService,
    templates: TemplateService,
    accounts: tuple[AccountService, AuditTrail] | None = None,
) -> dict[str, tuple[type[BaseModel], Handler]]:
    """Every served action: its request model and its handler (the account and audit actions
    when `accounts` is given)."""
    return {
        **(handlers_accounts.build(*accounts) if accounts is not None else {}),
        **handlers_template.build(templates),
        **handlers_job.build(service.jobs),
        **handlers_env.build(service.envs),
        **handlers_events.build(service.history),
    }
