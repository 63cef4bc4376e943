"""The request signatures of API 3.0 (batch-api.md §1.2): TC3-HMAC-SHA256, with the host and
service forms every official SDK signs (tdmq-api.md §4), and signature v1."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from batchd.domain import errors

ALGORITHM = "TC3-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
REQUIRED_HEADERS = ("content-type", "host")
V1_METHODS = {"HmacSHA1": hashlib.sha1, "HmacSHA256": hashlib.sha256}

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
_HEADER_NAME = re.compile(r"[a-z0-9-]+")
_SECRET_ID = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True, slots=True)
class Authorization:
    """The parts of a TC3 `Authorization` header."""

    secret_id: str
    date: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def _invalid(why: str) -> errors.AuthFailure:
    return errors.AuthFailure(
        f"The Authorization header is invalid: {why}",
        parameter="Authorization",
        code="AuthFailure.InvalidAuthorization",
    )


def parse_authorization(value: str) -> Authorization:
    """`TC3-HMAC-SHA256 Credential=<id>/<date>/<service>/tc3_request, SignedHeaders=…,
    Signature=<hex>`, or AuthFailure.InvalidAuthorization (or .InvalidSecretId)."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _invalid(f"the algorithm must be {ALGORITHM}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, equals, text = part.strip().partition("=")
        if not equals or name in fields:
            raise _invalid(f"cannot read {part.strip()!r}")
        fields[name] = text.strip()
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if name not in fields]
    if missing:
        raise _invalid(f"{', '.join(missing)} missing")
    scope = fields["Credential"].split("/")
    if len(scope) != 4 or scope[3] != "tc3_request" or not _DATE.fullmatch(scope[1]):
        raise _invalid("Credential must be <SecretId>/<YYYY-MM-DD>/<service>/tc3_request")
    if not _SECRET_ID.fullmatch(scope[0]):
        raise errors.AuthFailure(
            "The SecretId in the Authorization header is malformed",
            parameter="SecretId",
            code="AuthFailure.InvalidSecretId",
        )
    signed = tuple(fields["SignedHeaders"].split(";"))
    if not all(_HEADER_NAME.fullmatch(name) for name in signed):
        raise _invalid("SignedHeaders must be lower-case header names joined by ';'")
    if not set(REQUIRED_HEADERS) <= set(signed):
        raise _invalid("SignedHeaders must include content-type and host")
    if not _SIGNATURE.fullmatch(fields["Signature"]):
        raise _invalid("Signature must be 64 hex digits")
    return Authorization(scope[0], scope[1], scope[2], signed, fields["Signature"].lower())


def check_scope(auth: Authorization, timestamp: int, service: str, host: str) -> None:
    """The credential scope must name the API's `service` (or the one a client derives from the
    `host` it was given: `client_services`) and the timestamp's UTC date."""
    if auth.service != service and auth.service not in client_services(host):
        raise errors.SignatureMismatch(
            f"The credential scope names service {auth.service!r}; sign for {service!r}",
            parameter="Authorization",
        )
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    if auth.date != date:
        raise errors.SignatureMismatch(
            f"The credential scope date {auth.date} is not the UTC date of X-TC-Timestamp ({date})",
            parameter="Authorization",
        )


def without_port(host: str) -> str:
    """`127.0.0.1:8910` -> `127.0.0.1`, `[::1]:8910` -> `[::1]`; a host without a port as is."""
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit() and (not name.startswith("[") or name.endswith("]")):
        return name
    return host


def client_services(host: str) -> set[str]:
    """The services an SDK that derives its service from the endpoint's first label (Node.js,
    Java, PHP, .NET: tdmq-api.md §4) signs for when it was given `host`: `127` for
    `127.0.0.1:8910`, `localhost:8910` for `localhost:8910`."""
    return {host.split(".")[0], without_port(host).split(".")[0]} - {""}


def host_forms(host: str) -> list[str]:
    """The `host:` values clients sign for a request that arrived with `Host: host`: as sent,
    without the port (Node.js), and with a scheme in front (tccli's endpoint as given)."""
    forms = [host]
    bare = without_port(host)
    if bare != host:
        forms.append(bare)
    if "://" not in host:
        forms += [f"http://{host}", f"https://{host}"]
    return forms


def payload_hash(body: bytes, unsigned: bool) -> str:
    """HashedPayload: SHA-256 of the body, or of `UNSIGNED-PAYLOAD` when the client said so."""
    return hashlib.sha256(UNSIGNED_PAYLOAD.encode() if unsigned else body).hexdigest()


def tc3_signature(
    secret_key: str,
    auth: Authorization,
    *,
    method: str,
    path: str,
    query: str,
    header_values: Iterable[str],
    hashed_payload: str,
    timestamp: str,
) -> str:
    """The signature of a request whose signed headers have `header_values` (in the order of
    `auth.signed_headers`), exactly as the SDK computes it."""
    canonical_headers = "".join(
        f"{name}:{value.strip()}\n"
        for name, value in zip(auth.signed_headers, header_values, strict=True)
    )
    canonical_request = "\n".join(
        [method, path, query, canonical_headers, ";".join(auth.signed_headers), hashed_payload]
    )
    scope = f"{auth.date}/{auth.service}/tc3_request"
    string_to_sign = "\n".join(
        [ALGORITHM, timestamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = signing_key(secret_key, auth.date, auth.service)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=4096)
def signing_key(secret_key: str, date: str, service: str) -> bytes:
    """The key a day's requests to `service` are signed with: the same for every request of a
    key that day (and for each host form tried), so derived once, not three HMACs a request."""
    key = _hmac(f"TC3{secret_key}".encode(), date)
    key = _hmac(key, service)
    return _hmac(key, "tc3_request")


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def verify_tc3(
    secret_key: str,
    auth: Authorization,
    headers: Mapping[str, str],
    *,
    method: str,
    path: str,
    query: str,
    hashed_payload: str,
    timestamp: str,
) -> bool:
    """Whether the signature holds over the signed header values as sent or lower-cased, with
    the host in any of its `host_forms`."""
    values = [headers.get(name) for name in auth.signed_headers]
    present = [value for value in values if value is not None]
    if len(present) != len(values):
        return False
    host_at = auth.signed_headers.index("host")
    for host in host_forms(present[host_at]):
        with_host = [*present[:host_at], host, *present[host_at + 1 :]]
        for variant in (with_host, [value.lower() for value in with_host]):
            expected = tc3_signature(
                secret_key,
                auth,
                method=method,
                path=path,
                query=query,
                header_values=variant,
                hashed_payload=hashed_payload,
                timestamp=timestamp,
            )
            if hmac.compare_digest(expected, auth.signature):
                return True
    return False


def v1_source(method: str, host: str, path: str, params: Iterable[tuple[str, str]]) -> str:
    """The signature-v1 string: `_` -> `.` in keys, then sorted, raw values."""
    kept = sorted((key.replace("_", "."), value) for key, value in params if key != "Signature")
    return f"{method}{host}{path}?" + "&".join(f"{key}={value}" for key, value in kept)


def verify_v1(secret_key: str, source: str, signature: str, method_name: str) -> bool:
    """Whether `signature` is the Base64 HMAC (`method_name`, see V1_METHODS) of `source`."""
    digest = V1_METHODS[method_name]
    mac = hmac.new(secret_key.encode(), source.encode(), digest).digest()
    return hmac.compare_digest(base64.b64encode(mac), signature.encode())
