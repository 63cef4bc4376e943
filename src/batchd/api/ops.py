"""Operations endpoints: /healthz for readiness, /metrics in Prometheus text format.

Both say this replica's role: "leader" (the one that steps jobs and delivers pushes; a server on
SQLite always is) or "follower" (replicas on one PostgreSQL database answer every request alike).

/metrics names no account's resources unless the administrator asks for them: a scrape with HTTP
Basic authentication by the administrator's SecretId and SecretKey (Prometheus `basic_auth`) gets
every queue's depth with its account, region and name; any other gets the total.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from batchd.api.auth import Keyring
from batchd.api.metrics import RequestMetrics, family
from batchd.control.leadership import Leadership
from batchd.domain import errors
from batchd.mq.service import MessageService
from batchd.store.repos import events as event_repo


class Ops:
    def __init__(
        self,
        service: MessageService,
        metrics: RequestMetrics,
        keyring: Keyring | None = None,
        is_admin: Callable[[str], bool] | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        self._leadership = leadership
        self._service = service
        self._metrics = metrics
        self._keyring = keyring
        self._is_admin = is_admin

    def _by_administrator(self, request: Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or self._keyring is None or self._is_admin is None:
            return False
        try:
            secret_id, _, secret_key = (
                base64.b64decode(encoded, validate=True).decode().partition(":")
            )
            credential = self._keyring.lookup(secret_id)
        except (binascii.Error, UnicodeDecodeError, errors.AuthFailure):
            return False
        return self._is_admin(credential.app_id) and hmac.compare_digest(
            credential.secret_key.encode(), secret_key.encode()
        )

    def _role(self) -> dict[str, object]:
        leadership = self._leadership
        if leadership is None:
            return {"role": "leader"}
        return {
            "role": leadership.role,
            "replica": leadership.replica,
            "leader": leadership.leader_url,
            "epoch": leadership.epoch if leadership.epoch is not None else leadership.leader.epoch,
        }

    async def healthz(self, request: Request) -> Response:
        try:
            await self._service.stats()
        except Exception as error:
            return JSONResponse(
                {"status": "unavailable", "reason": str(error), **self._role()}, status_code=503
            )
        return JSONResponse({"status": "ok", **self._role()})

    def _leads(self) -> int:
        return int(self._leadership is None or self._leadership.role == "leader")

    async def metrics(self, request: Request) -> Response:
        depths, (pending, dead) = await self._service.stats()
        outcomes = self._service.push.outcomes
        db = self._service.ctx.db
        undeliverable = await db.read(event_repo.undeliverable_count)
        text = "".join(
            [
                family(
                    "batchd_requests_total",
                    "counter",
                    "API requests by protocol, action and code",
                    [
                        ({"protocol": protocol, "action": action, "code": str(code)}, n)
                        for (protocol, action, code), n in sorted(self._metrics.requests.items())
                    ],
                ),
                family(
                    "batchd_queue_messages",
                    "gauge",
                    "Messages stored in each queue (for the administrator; others: in all queues)",
                    [
                        ({"account": account, "region": region, "queue": name}, n)
                        for account, region, name, n in depths
                    ]
                    if self._by_administrator(request)
                    else [({}, sum(n for *_, n in depths))],
                ),
                family(
                    "batchd_push_deliveries_total",
                    "counter",
                    "Push delivery attempts by outcome since start",
                    [
                        ({"outcome": outcome}, outcomes.get(outcome, 0))
                        for outcome in ("delivered", "failed", "dead_lettered")
                    ],
                ),
                family(
                    "batchd_push_deliveries",
                    "gauge",
                    "Push deliveries now pending or dead-lettered",
                    [({"state": "pending"}, pending), ({"state": "dead_lettered"}, dead)],
                ),
                family(
                    "batchd_events_undeliverable",
                    "gauge",
                    "Stored lifecycle events that a topic of their notifications could not take "
                    "(list them with `batchd events ID`)",
                    [({}, undeliverable)],
                ),
                family(
                    "batchd_leader",
                    "gauge",
                    "1 on the replica that leads (steps jobs, delivers pushes), 0 on the others",
                    [({"replica": str(self._role().get("replica", ""))}, self._leads())],
                ),
                family(
                    "batchd_leader_handovers_total",
                    "counter",
                    "Times this replica started leading",
                    [({}, self._leadership.handovers if self._leadership is not None else 1)],
                ),
                family(
                    "batchd_store_commits_total",
                    "counter",
                    "Group commits of the writer",
                    [({}, db.commits)],
                ),
                family(
                    "batchd_store_units_total",
                    "counter",
                    "Units of work committed",
                    [({}, db.units)],
                ),
            ]
        )
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
