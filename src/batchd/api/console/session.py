"""The console session: who is signed in (account, region), the CSRF token and flash notes.

The session lives in a cookie signed by Starlette's SessionMiddleware; its key is derived from
the server's API secret, so sessions outlive a restart and end when the key is changed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from batchd.api.auth import Keyring
from batchd.domain import errors
from batchd.domain.scope import Scope, canonical_region, is_region

COOKIE = "batchd_console"
MAX_AGE_S = 12 * 3600
MAX_KEPT = 1500  # characters of posted values kept for a form shown again; a cookie holds ~4 KB


def signing_key(api_secret: str) -> str:
    """The cookie signing key: not the API secret itself, which never leaves the server."""
    return hmac.new(api_secret.encode(), b"batchd console session", hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class SignedIn:
    scope: Scope
    secret_id: str


def csrf_token(request: Request) -> str:
    """This session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, sent: object) -> bool:
    token = request.session.get("csrf")
    # As bytes: a token with non-ASCII characters is simply wrong, not an error.
    return (
        isinstance(token, str)
        and isinstance(sent, str)
        and hmac.compare_digest(token.encode(), sent.encode("utf-8", "surrogatepass"))
    )


def current(request: Request, keyring: Keyring) -> SignedIn | None:
    """The signed-in account, if the session names a key the server still accepts."""
    secret_id = request.session.get("secret_id")
    account = request.session.get("account")
    region = request.session.get("region")
    if not (isinstance(secret_id, str) and isinstance(account, str) and isinstance(region, str)):
        return None
    try:
        credential = keyring.lookup(secret_id)
    except errors.AuthFailure:
        request.session.clear()
        return None
    if credential.app_id != account:
        request.session.clear()
        return None
    return SignedIn(Scope(account, region), secret_id)


def sign_in(
    request: Request, keyring: Keyring, secret_id: str, secret_key: str, region: str
) -> str | None:
    """Start a session; answers what is wrong instead when the key or region is refused."""
    if not is_region(region):
        return "The region must be 1-64 letters, digits, '-' or '_' (e.g. ap-guangzhou)."
    try:
        credential = keyring.lookup(secret_id.strip())
    except errors.AuthFailure:
        credential = None
    # One answer for an unknown id and a wrong key: the form must not reveal which ids exist.
    if credential is None or not hmac.compare_digest(
        credential.secret_key.encode(), secret_key.encode()
    ):
        return "The SecretId and SecretKey do not match an API key of this server."
    request.session.clear()  # a fresh session (and CSRF token) for the signed-in user
    request.session.update(
        {
            "account": credential.app_id,
            "secret_id": credential.secret_id,
            "region": canonical_region(region),
        }
    )
    csrf_token(request)
    return None


def sign_out(request: Request) -> None:
    request.session.clear()


def flash(request: Request, kind: str, text: str, values: dict[str, str] | None = None) -> None:
    """A note for the next page (kind: ok or error), with the posted values to show again."""
    kept: dict[str, str] = {}
    room = MAX_KEPT
    for key, value in (values or {}).items():
        if key != "csrf" and len(value) <= room:
            kept[key] = value
            room -= len(value)
    notes = list(request.session.get("flash", []))
    notes.append({"kind": kind, "text": text})
    request.session["flash"] = notes[-3:]
    if kept:
        request.session["prior"] = kept


def take_flash(request: Request) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The notes and prior form values left for this page, removed from the session."""
    notes = request.session.pop("flash", [])
    prior = request.session.pop("prior", {})
    return (notes if isinstance(notes, list) else []), (prior if isinstance(prior, dict) else {})
