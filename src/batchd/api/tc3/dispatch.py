"""The API 3.0 endpoint: pick the API by version, check the action, authenticate, parse and
validate, call the handler.

Request forms (batch-api.md §1.1): JSON POST or GET signed with TC3-HMAC-SHA256 (`X-TC-*`
headers), and form POST or GET signed with signature v1 (`Action=…&Signature=…`). Checks run in
the order of §1.1; the first failure answers. Every answer is HTTP 200 in the §1.3 envelope.
Which API a request is for is its version's (tdmq-api.md §1): the Batch API, or the CMQ
actions of TDMQ.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from batchd.api import audit_call, json_text
from batchd.api.auth import TIMESTAMP_WINDOW_SECONDS, Keyring, RateLimiter
from batchd.api.leader_forward import LeaderForward
from batchd.api.metrics import RequestMetrics
from batchd.api.tc3 import envelope, form, signing, validation
from batchd.api.tc3 import errors as tc3_errors
from batchd.api.tc3.apis import Api, Handler
from batchd.domain import errors
from batchd.domain.account import Credential
from batchd.domain.scope import MAX_REGION, Scope, canonical_region, is_region
from batchd.store import audit

log = logging.getLogger(__name__)

__all__ = ["METHODS", "REQUEST_ID", "Handler", "Tc3Endpoint", "bind"]

M = TypeVar("M", bound=BaseModel)

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
"""Route all of these to `handle`: the others answer UnsupportedProtocol in the envelope."""

MAX_TC3_POST_BYTES = 10 * 1024 * 1024
MAX_V1_POST_BYTES = 1024 * 1024
MAX_GET_BYTES = 32 * 1024

# Parameters of a signature-v1 request that are not part of the request object.
V1_COMMON = frozenset(
    {
        "Action",
        "Version",
        "Region",
        "Timestamp",
        "Nonce",
        "SecretId",
        "SignatureMethod",
        "Signature",
        "RequestClient",
        "Language",
        "Token",
    }
)

REQUEST_ID: ContextVar[str] = ContextVar("tc3_request_id")
"""The RequestId of the request being handled: handlers may pass it on as the `cause`."""


def bind(
    model: type[M], handler: Callable[[Scope, M], Awaitable[dict[str, Any]]]
) -> tuple[type[BaseModel], Handler]:
    """An `actions` entry, with the handler type-checked against the model it receives."""
    return model, handler


@dataclass
class _Progress:
    api: Api | None = None  # once the version check passed: whose codes and metrics label
    action: str = "-"  # the metrics label: a known action name once the action check passed


@dataclass(frozen=True, slots=True)
class _Call:
    scope: Scope
    secret_id: str
    model: type[BaseModel]
    handler: Handler
    data: dict[str, Any]


class Tc3Endpoint:
    """`handle` serves `POST /` and `GET /` for the actions of `apis`, each API by its version.

    `default_region` is the region of requests that name none.
    """

    def __init__(
        self,
        keyring: Keyring,
        apis: Sequence[Api],
        metrics: RequestMetrics,
        default_region: str,
        clock: Callable[[], float] = time.time,
        limiter: RateLimiter | None = None,
        leader: LeaderForward | None = None,
    ) -> None:
        self._leader = leader
        self._limiter = limiter or RateLimiter(0)
        self._keyring = keyring
        self._apis = {api.version: api for api in apis}
        self._metrics = metrics
        self._default_region = default_region
        self._clock = clock

    async def handle(self, request: Request) -> Response:
        """Answer one request; never raises, always HTTP 200 in the Batch API envelope."""
        forwarded = await self._forwarded(request)
        if forwarded is not None:
            return forwarded
        request_id = str(uuid.uuid4())
        token = REQUEST_ID.set(request_id)
        progress = _Progress()
        try:
            call = await self._read(request, progress)
            parsed = validation.parse(call.model, call.data)
            assert progress.api is not None  # the call was resolved
            recorded = audit_call.call(
                progress.api.service,
                progress.action,
                call.scope,
                call.secret_id,
                request_id,
                call.data,
            )
            with audit.calling(recorded):
                fields = await call.handler(call.scope, parsed)
            response = envelope.success(request_id, fields)
            code = "0"
        except errors.BatchdError as error:
            code = (progress.api.code_for if progress.api else tc3_errors.code_for)(error)
            if code == tc3_errors.INTERNAL:
                log.error(
                    "request failed: %s",
                    error,
                    exc_info=error,
                    extra={"event": "tc3_error", "request_id": request_id},
                )
            response = envelope.failure(request_id, code, error.message)
        except Exception:
            log.exception(
                "unexpected error", extra={"event": "tc3_internal", "request_id": request_id}
            )
            code = tc3_errors.INTERNAL
            response = envelope.failure(
                request_id,
                code,
                "An internal error occurred; retry, and report the RequestId if it persists",
            )
        finally:
            REQUEST_ID.reset(token)
        label = "tc3" if progress.api is None or progress.api.service == "batch" else "tdmq"
        self._metrics.count(label, progress.action, code)
        return response

    async def _forwarded(self, request: Request) -> Response | None:
        """The leader's answer to an action only it can answer, when this replica follows."""
        leader_url = self._leader.target(request) if self._leader is not None else None
        if leader_url is None or request.method not in ("GET", "POST"):
            return None
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_TC3_POST_BYTES:
            return None  # answered here, with the error a body of that size gets
        assert self._leader is not None
        return await self._leader.forward(request, leader_url)

    async def _read(self, request: Request, progress: _Progress) -> _Call:
        if request.method not in ("GET", "POST"):
            raise errors.UnsupportedMethod(
                f"HTTP method {request.method} is not supported: use POST (or GET)",
                parameter=request.method,
            )
        if "x-tc-action" in request.headers or "authorization" in request.headers:
            return await self._read_tc3(request, progress)
        return await self._read_v1(request, progress)

    # --- TC3-HMAC-SHA256 ---------------------------------------------------------------------

    async def _read_tc3(self, request: Request, progress: _Progress) -> _Call:
        headers = request.headers
        api, model, handler = self._resolve(
            headers.get("x-tc-action"),
            "X-TC-Action",
            headers.get("x-tc-version"),
            "X-TC-Version",
            progress,
        )
        auth = signing.parse_authorization(headers.get("authorization", ""))
        if headers.get("x-tc-token"):
            raise _token_refused("X-TC-Token")
        credential = self._keyring.lookup(auth.secret_id)
        timestamp_text = headers.get("x-tc-timestamp")
        timestamp = self._timestamp(timestamp_text, "X-TC-Timestamp")
        signing.check_scope(auth, timestamp, api.service, headers.get("host", ""))
        query = _raw_query(request)
        body = b"" if request.method == "GET" else await _body(request, MAX_TC3_POST_BYTES)
        unsigned = headers.get("x-tc-content-sha256") == signing.UNSIGNED_PAYLOAD
        if not signing.verify_tc3(
            credential.secret_key,
            auth,
            headers,
            method=request.method,
            path=request.scope["path"],
            query=query if request.method == "GET" else "",
            hashed_payload=signing.payload_hash(body, unsigned),
            timestamp=str(timestamp_text),
        ):
            raise _signature_refused()
        self._limiter.take(credential.secret_id)
        if request.method == "GET":
            data = form.rebuild(_pairs(query, "query string"), model)
        else:
            data = _post_data(headers.get("content-type", ""), body, model)
        scope = self._scope(credential, headers.get("x-tc-region"))
        return _Call(scope, credential.secret_id, model, handler, data)

    # --- signature v1 ------------------------------------------------------------------------

    async def _read_v1(self, request: Request, progress: _Progress) -> _Call:
        if request.method == "GET":
            pairs = _pairs(_raw_query(request), "query string")
        elif _media_type(request.headers.get("content-type", "")) == FORM:
            pairs = _pairs(_text(await _body(request, MAX_V1_POST_BYTES)), "body")
        else:
            pairs = []
        common: dict[str, str] = {}
        rest: list[tuple[str, str]] = []
        for key, value in pairs:
            if key not in V1_COMMON:
                rest.append((key, value))
            elif key in common:
                raise errors.ParameterNotRepeatable(
                    f"The parameter `{key}` is given more than once", parameter=key
                )
            else:
                common[key] = value
        _api, model, handler = self._resolve(
            common.get("Action"), "Action", common.get("Version"), "Version", progress
        )
        if common.get("Token"):
            raise _token_refused("Token")
        for name in ("SecretId", "Signature", "Timestamp", "Nonce"):
            if not common.get(name):
                raise errors.MissingParameter(
                    f"The request is missing a required parameter `{name}`", parameter=name
                )
        credential = self._keyring.lookup(common["SecretId"])
        self._timestamp(common["Timestamp"], "Timestamp")
        method_name = common.get("SignatureMethod", "HmacSHA1")
        if method_name not in signing.V1_METHODS:
            raise errors.InvalidParameterValue(
                "The value of `SignatureMethod` must be HmacSHA1 or HmacSHA256",
                parameter="SignatureMethod",
            )
        source = signing.v1_source(
            request.method, request.headers.get("host", ""), request.scope["path"], pairs
        )
        if not signing.verify_v1(credential.secret_key, source, common["Signature"], method_name):
            raise _signature_refused()
        self._limiter.take(credential.secret_id)
        data = form.rebuild(rest, model)
        scope = self._scope(credential, common.get("Region"))
        return _Call(scope, credential.secret_id, model, handler, data)

    # --- shared steps ------------------------------------------------------------------------

    def _resolve(
        self,
        name: str | None,
        where: str,
        version: str | None,
        version_where: str,
        progress: _Progress,
    ) -> tuple[Api, type[BaseModel], Handler]:
        if not name:
            raise errors.MissingParameter(
                "The request is missing the action: send the X-TC-Action header "
                "(or the Action parameter of a signature-v1 request)",
                parameter=where,
            )
        api = self._apis.get(version or "")
        if api is None:
            # batch-api.md §1.1: the action is checked before the version, so it is looked up
            # in every API this endpoint serves.
            owner = next((a for a in self._apis.values() if name in a.known | a.extensions), None)
            if owner is None:
                raise errors.UnknownAction(
                    f"The action `{name}` does not exist in {self._described()}", parameter=where
                )
            if name not in owner.actions:
                progress.api, progress.action = owner, name
                raise errors.Unsupported(owner.not_offered(name), parameter=where)
            raise errors.InvalidParameterValue(
                f"The version `{version or ''}` is not supported: use {owner.version} for "
                f"{owner.title} actions",
                parameter=version_where,
                code="NoSuchVersion",
            )
        progress.api = api
        if name not in api.known and name not in api.extensions:
            raise errors.UnknownAction(
                f"The action `{name}` does not exist in {api.title} version {api.version}",
                parameter=where,
            )
        progress.action = name
        entry = api.actions.get(name)
        if entry is None:
            raise errors.Unsupported(api.not_offered(name), parameter=where)
        return api, *entry

    def _described(self) -> str:
        return " or ".join(f"{api.title} version {api.version}" for api in self._apis.values())

    def _timestamp(self, text: str | None, where: str) -> int:
        if not text:
            raise errors.MissingParameter(
                f"The request is missing a required parameter `{where}`", parameter=where
            )
        try:
            timestamp = int(text)
        except ValueError:
            raise errors.ParameterTypeError(
                f"The value of `{where}` must be a Unix time in seconds", parameter=where
            ) from None
        if abs(self._clock() - timestamp) > TIMESTAMP_WINDOW_SECONDS:
            raise errors.RequestExpired(
                f"`{where}` is more than {TIMESTAMP_WINDOW_SECONDS} s away from server time: "
                "check the client clock",
                parameter=where,
            )
        return timestamp

    def _scope(self, credential: Credential, region: str | None) -> Scope:
        if region and not is_region(region):
            # Any well-formed region is a namespace of its own; this one could not be stored.
            raise errors.InvalidParameterValue(
                f"{region[:80]!r} is no region name: letters, digits, '-' and '_', "
                f"at most {MAX_REGION} characters, e.g. ap-guangzhou",
                parameter="Region",
                code="UnsupportedRegion",
            )
        return Scope(credential.app_id, canonical_region(region or self._default_region))


JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def _token_refused(where: str) -> errors.BatchdError:
    return errors.TokenUnsupported(
        "batchd has no temporary credentials: sign with a SecretId/SecretKey and no token",
        parameter=where,
    )


def _signature_refused() -> errors.BatchdError:
    return errors.SignatureMismatch(
        "The signature does not match: check the SecretKey, and sign the Host header as sent",
        parameter="Signature",
    )


def _too_large(limit: int) -> errors.BatchdError:
    return errors.LimitExceeded(
        f"The request is larger than {limit // 1024} KB", code="RequestSizeLimitExceeded"
    )


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _raw_query(request: Request) -> str:
    """The query string exactly as sent (it is signed as is)."""
    raw: bytes = request.scope.get("query_string", b"")
    if len(raw) > MAX_GET_BYTES:
        raise _too_large(MAX_GET_BYTES)
    return _text(raw)


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise errors.MalformedBody("The client went away before the body ended") from None
    return b"".join(chunks)


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.MalformedBody("The request is not valid UTF-8") from None


def _pairs(text: str, where: str) -> list[tuple[str, str]]:
    try:
        return urllib.parse.parse_qsl(text, keep_blank_values=True, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise errors.MalformedBody(f"The {where} cannot be parsed") from None


def _post_data(content_type: str, body: bytes, model: type[BaseModel]) -> dict[str, Any]:
    media_type = _media_type(content_type)
    if media_type == FORM:
        return form.rebuild(_pairs(_text(body), "body"), model)
    if media_type != JSON:
        raise errors.MalformedBody(
            f"Content-Type {content_type!r} is not supported: send {JSON}", parameter="Content-Type"
        )
    text = _text(body)
    if not text.strip():
        return {}
    data = json_text.loads(text)
    if not isinstance(data, dict):
        raise errors.MalformedBody("The body must be a JSON object")
    return data
