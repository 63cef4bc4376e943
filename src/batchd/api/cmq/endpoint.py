"""The /v2/index.php endpoint: parse, authenticate, dispatch, and answer in the CMQ envelope."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import urllib.parse
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from starlette.types import Receive, Send
from starlette.types import Scope as AsgiScope

from batchd.api import audit_call
from batchd.api.auth import Keyring, NonceCache, RateLimiter
from batchd.api.cmq import errors as cmq_errors
from batchd.api.cmq import signing
from batchd.api.cmq.actions import ACTIONS, WIRE_NAMES
from batchd.api.cmq.actions_common import Reply
from batchd.api.cmq.params import COMMON, Params, canonical
from batchd.api.metrics import RequestMetrics
from batchd.domain import errors
from batchd.domain.scope import Scope, canonical_region, is_region
from batchd.mq.service import MessageService
from batchd.store import audit

log = logging.getLogger(__name__)

PATH = "/v2/index.php"
MAX_REQUEST_BYTES = 1024 * 1024


_READ_HEADERS = (b"host", b"content-type", b"content-length")


@dataclass(slots=True)
class _Request:
    """What the endpoint reads of an HTTP request, straight from the ASGI scope."""

    method: str
    host: str
    path: str
    query: str
    content_type: str
    content_length: str | None
    receive: Receive

    @classmethod
    def of(cls, scope: AsgiScope, receive: Receive) -> _Request:
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _READ_HEADERS:
                headers.setdefault(name, value)  # the first of a repeated header, as Starlette

        def header(name: bytes) -> str | None:
            value = headers.get(name)
            return None if value is None else value.decode("latin-1")

        return cls(
            method=scope["method"],
            host=header(b"host") or "",
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            content_type=header(b"content-type") or "",
            content_length=header(b"content-length"),
            receive=receive,
        )


class _ClientGone(Exception):
    """The client disconnected before its request was read: nobody is left to answer."""


class CmqEndpoint:
    """A plain ASGI application: the message path is the busiest, and Starlette's request and
    response objects, routing and middleware cost more there than they give (docs/benchmarks.md,
    "The message path, leaner")."""

    def __init__(
        self,
        service: MessageService,
        keyring: Keyring,
        nonces: NonceCache,
        metrics: RequestMetrics,
        region: str,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._limiter = limiter or RateLimiter(0)
        self._service = service
        self._keyring = keyring
        self._nonces = nonces
        self._metrics = metrics
        self._region = region

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        try:
            body = await self.answer(_Request.of(scope, receive))
        except _ClientGone:
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(body)).encode("ascii")),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def answer(self, request: _Request) -> bytes:
        """The CMQ envelope of the reply to `request`, encoded."""
        request_id = str(uuid.uuid4())
        action_name = "-"
        try:
            pairs = await self._pairs(request)
            common = _common(pairs)
            action_name = common.get("Action", "-")
            scope = await self._authenticate(request, pairs, common)
            action = ACTIONS.get(action_name)
            if action is None:
                if "Action" not in common:
                    raise errors.MissingParameter(parameter="Action")
                raise errors.UnknownAction(parameter=action_name)
            params = Params.parse(pairs, action.spec)
            if action_name in LONG_POLLING:
                reply = await _unless_disconnected(
                    request, action.handler(self._service, scope, params)
                )
            else:
                recorded = audit_call.call(
                    "cmq",
                    action_name,
                    scope,
                    common["SecretId"],
                    request_id,
                    pairs,
                    audit_call.CMQ_FIELDS,
                )
                with audit.calling(recorded):
                    reply = await action.handler(self._service, scope, params)
        except _ClientGone:
            raise
        except errors.BatchdError as error:
            parameter = WIRE_NAMES.get(error.parameter or "", error.parameter)
            code, message = cmq_errors.render(error, parameter)
            if code >= 6000 and code != 6030:
                log.warning(
                    "request failed: %s",
                    message,
                    exc_info=error,
                    extra={"event": "cmq_error", "request_id": request_id},
                )
            reply = Reply(code=code, message=message)
        except Exception:
            log.exception(
                "unexpected error", extra={"event": "cmq_internal", "request_id": request_id}
            )
            code, module, text = cmq_errors.INTERNAL
            reply = Reply(code=code, message=f"({module}){text}")
        self._metrics.count("cmq", action_name if action_name in ACTIONS else "-", reply.code)
        body: dict[str, Any] = {
            "code": reply.code,
            "message": reply.message,
            "requestId": request_id,
        }
        body.update(reply.fields)
        return json.dumps(body, ensure_ascii=False).encode("utf-8")

    async def _pairs(self, request: _Request) -> list[tuple[str, str]]:
        if request.method == "GET":
            if len(request.query) > MAX_REQUEST_BYTES:
                raise errors.MalformedBody(parameter="query")
            return _parse(request.query, "query")
        if request.method != "POST":
            raise errors.UnsupportedMethod(parameter=request.method)
        if "application/json" in request.content_type.lower():
            raise errors.MalformedBody(parameter="body")
        declared = request.content_length
        if declared is not None and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
            raise errors.MalformedBody(parameter="body")
        chunks = []
        size = 0
        more = True
        while more:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_REQUEST_BYTES:
                raise errors.MalformedBody(parameter="body")
            chunks.append(chunk)
            more = message.get("more_body", False)
        try:
            text = b"".join(chunks).decode("utf-8")
        except UnicodeDecodeError:
            raise errors.MalformedBody(parameter="body") from None
        return _parse(text, "body") + _parse(request.query, "query")

    async def _authenticate(
        self, request: _Request, pairs: list[tuple[str, str]], common: dict[str, str]
    ) -> Scope:
        if "Token" in common:
            raise errors.TokenUnsupported(parameter="Token")
        for name in ("SecretId", "Signature", "Timestamp", "Nonce"):
            if not common.get(name):
                raise errors.MissingParameter(parameter=name)
        credential = self._keyring.lookup(common["SecretId"])
        try:
            timestamp = int(common["Timestamp"])
        except ValueError:
            raise errors.ParameterTypeError(parameter="Timestamp") from None
        self._nonces.check_timestamp(timestamp)
        if not signing.verify(
            credential.secret_key,
            request.method,
            request.host,
            request.path,
            [(key, value) for key, value in pairs if canonical(key, ("Signature",)) is None],
            common["Signature"],
            common.get("SignatureMethod"),
        ):
            raise errors.SignatureMismatch(parameter="Signature")
        await self._nonces.remember(common["SecretId"], common["Nonce"], common["Timestamp"])
        self._limiter.take(credential.secret_id)
        region = common.get("Region") or self._region
        if not is_region(region):
            raise errors.InvalidParameterValue(parameter="Region")
        return Scope(credential.app_id, canonical_region(region))


LONG_POLLING = frozenset({"ReceiveMessage", "BatchReceiveMessage"})


async def _unless_disconnected(request: _Request, call: Awaitable[Reply]) -> Reply:
    """Run a long poll, abandoning it when the client goes away: a receive nobody waits for
    any more would hide a message for a whole visibility timeout."""
    polling = asyncio.ensure_future(call)
    watching = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({polling, watching}, return_when=asyncio.FIRST_COMPLETED)
        if polling in done:
            return polling.result()
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
        return Reply(code=7000, message="(10200)no message")
    finally:
        watching.cancel()
        if not polling.done():
            polling.cancel()


async def _disconnected(request: _Request) -> None:
    # The body has been read, so the next ASGI message is the disconnect.
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _parse(text: str, where: str) -> list[tuple[str, str]]:
    try:
        return urllib.parse.parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, errors="strict"
        )
    except (ValueError, UnicodeDecodeError):
        raise errors.MalformedBody(parameter=where) from None


def _common(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Common parameters by canonical name; a repeated one is refused."""
    found: dict[str, str] = {}
    for key, value in pairs:
        name = canonical(key, COMMON)
        if name is None:
            continue
        if name in found:
            raise errors.ParameterNotRepeatable(parameter=name)
        found[name] = value
    return found
