"""The CMQ request signature, computed exactly as the official SDK computes it (cmq-api.md §1.3)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence


def source_string(method: str, host: str, path: str, params: Iterable[tuple[str, str]]) -> str:
    method = method.upper()
    kept = sorted(
        (key, value)
        for key, value in params
        if key != "Signature" and not (method == "POST" and value.startswith("@"))
    )
    joined = "&".join(f"{key.replace('_', '.')}={value}" for key, value in kept)
    return f"{method}{host}{path}?{joined}"


def sign(secret_key: str, source: str, method_name: str | None) -> str:
    digest = hashlib.sha256 if method_name == "HmacSHA256" else hashlib.sha1
    mac = hmac.new(secret_key.encode("utf-8"), source.encode("utf-8"), digest).digest()
    return base64.b64encode(mac).decode("ascii")


def host_variants(host: str) -> list[str]:
    """The Host header, and the same host with the default port added or removed."""
    variants = [host]
    for port in (":80", ":443"):
        if host.endswith(port):
            variants.append(host[: -len(port)])
    if ":" not in host.rsplit("]", 1)[-1]:
        variants += [host + ":80", host + ":443"]
    return variants


def verify(
    secret_key: str,
    method: str,
    host: str,
    path: str,
    params: Sequence[tuple[str, str]],
    signature: str,
    signature_method: str | None,
) -> bool:
    for candidate in host_variants(host):
        expected = sign(
            secret_key, source_string(method, candidate, path, params), signature_method
        )
        # As bytes: a signature with non-ASCII characters is simply wrong, not an error.
        if hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogatepass")):
            return True
    return False
