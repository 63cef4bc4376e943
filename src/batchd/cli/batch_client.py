"""A small Batch API client the CLI uses: TC3-signed JSON POSTs, like the official SDK sends them.

The signature is computed by the same code that verifies it on the server
(`batchd.api.tc3.signing`, batch-api.md §1.2), over `content-type` and `host`.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import httpx

from batchd import __version__
from batchd.api.tc3 import signing

VERSION = "2017-03-12"
CONTENT_TYPE = "application/json"
PATH = "/"
SIGNED_HEADERS = ("content-type", "host")
SERVICE = "batch"
_NOT_BATCH = "is --endpoint the address of a batchd server?"


class BatchApiError(Exception):
    """An `Error` answer of the Batch API; `code` is "" when the answer was not one at all."""

    def __init__(self, code: str, message: str, request_id: str) -> None:
        super().__init__(f"[{code}] {message}" if code else message)
        self.code = code
        self.message = message
        self.request_id = request_id


def authorization(secret_id: str, secret_key: str, host: str, body: bytes, timestamp: int) -> str:
    """The `Authorization` header of a JSON POST to `/` at `timestamp` (Unix seconds)."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = signing.Authorization(secret_id, date, SERVICE, SIGNED_HEADERS, "")
    signature = signing.tc3_signature(
        secret_key,
        scope,
        method="POST",
        path=PATH,
        query="",
        header_values=[CONTENT_TYPE, host],
        hashed_payload=signing.payload_hash(body, unsigned=False),
        timestamp=str(timestamp),
    )
    return (
        f"{signing.ALGORITHM} Credential={secret_id}/{date}/{SERVICE}/tc3_request, "
        f"SignedHeaders={';'.join(SIGNED_HEADERS)}, Signature={signature}"
    )


class BatchClient:
    def __init__(
        self,
        endpoint: str,
        secret_id: str,
        secret_key: str,
        region: str,
        timeout: float = 30.0,
        ca_cert: str | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(endpoint.rstrip("/"))
        try:
            valid = parsed.port is not None or parsed.hostname is not None
        except ValueError:  # a port that is not a number 0-65535
            valid = False
        if parsed.scheme not in ("http", "https") or not parsed.netloc or not valid:
            raise ValueError(f"endpoint must look like http://127.0.0.1:8910, got {endpoint!r}")
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        self._host = parsed.netloc
        self._secret_id = secret_id
        self._secret_key = secret_key
        # https: the CA given (BATCHD_CA_CERT) or the system's trust store, not certifi's
        self._http = httpx.Client(
            timeout=timeout, verify=ssl.create_default_context(cafile=ca_cert)
        )

    def close(self) -> None:
        self._http.close()

    def call(self, action: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The answer's `Response` object (RequestId included); `Error` raises BatchApiError."""
        body = json.dumps(params or {}, ensure_ascii=False).encode("utf-8")
        timestamp = int(time.time())
        headers = {
            "Content-Type": CONTENT_TYPE,
            "Host": self._host,
            "X-TC-Action": action,
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self.region,
            "X-TC-RequestClient": f"batchd-cli/{__version__}",
            "Authorization": authorization(
                self._secret_id, self._secret_key, self._host, body, timestamp
            ),
        }
        response = self._http.post(self.endpoint + PATH, content=body, headers=headers)
        where = self.endpoint + PATH
        if response.status_code != 200:
            raise BatchApiError("", f"HTTP {response.status_code} from {where}: {_NOT_BATCH}", "")
        try:
            data = json.loads(response.text)
        except ValueError:
            raise BatchApiError("", f"{where} answered with no JSON: {_NOT_BATCH}", "") from None
        answer = data.get("Response") if isinstance(data, dict) else None
        if not isinstance(answer, dict):
            raise BatchApiError("", f"{where} answered {data!r:.200}: {_NOT_BATCH}", "")
        request_id = str(answer.get("RequestId", ""))
        error = answer.get("Error")
        if error is not None:
            if not isinstance(error, dict):
                raise BatchApiError("", f"{where} answered {data!r:.200}: {_NOT_BATCH}", "")
            raise BatchApiError(
                str(error.get("Code", "")), str(error.get("Message", "")), request_id
            )
        return answer
