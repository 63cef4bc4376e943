"""Actions only the leading replica can answer, forwarded to it by the others.

Replicas share every stored thing, so they answer nearly every action alike. A few read what
only the leader's compute knows: the scheduler address external workers attach to
(DescribeComputeEnv), the workers waiting to be attached (AttachInstances), and the output of
attempts still running (DescribeTaskLogs; an attempt's output is stored when it ends). A follower
sends such a request, as it came (its signature covers the Host header, which is kept), to the
leader's advertised URL and answers what the leader answers. With no leader reachable (a
hand-over in progress) it answers itself, from what is stored.
"""

from __future__ import annotations

import logging

import httpx
from starlette.requests import Request
from starlette.responses import Response

from batchd.control.leadership import Leadership

log = logging.getLogger(__name__)

LEADER_ACTIONS = frozenset({"AttachInstances", "DescribeComputeEnv", "DescribeTaskLogs"})
FORWARDED = "x-batchd-forwarded"  # a forwarded request is never forwarded again
TIMEOUT_SECONDS = 30.0
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class LeaderForward:
    def __init__(self, leadership: Leadership) -> None:
        self._leadership = leadership
        self._client: httpx.AsyncClient | None = None

    def target(self, request: Request) -> str | None:
        """The leader's URL when this request must be answered there, else None."""
        leadership = self._leadership
        if leadership.role == "leader" or FORWARDED in request.headers:
            return None
        action = request.headers.get("x-tc-action") or request.query_params.get("Action")
        if action not in LEADER_ACTIONS:
            return None
        return leadership.leader_url

    async def forward(self, request: Request, leader_url: str) -> Response | None:
        """The leader's answer, or None when it cannot be reached."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT_SECONDS)
        headers = {k: v for k, v in request.headers.items() if k not in _HOP_BY_HOP}
        headers[FORWARDED] = self._leadership.replica or "1"
        query = request.url.query
        url = f"{leader_url}{request.url.path}" + (f"?{query}" if query else "")
        try:
            answer = await self._client.request(
                request.method, url, headers=headers, content=await request.body()
            )
        except httpx.HTTPError as error:
            log.warning(
                "cannot forward %s to the leader at %s (%s): answering here",
                request.headers.get("x-tc-action"),
                leader_url,
                error,
                extra={"event": "forward_failed"},
            )
            return None
        return Response(
            answer.content,
            status_code=answer.status_code,
            media_type=answer.headers.get("content-type"),
        )
