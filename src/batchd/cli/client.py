"""A small CMQ client the CLI uses: signs requests like the official SDK and raises on errors."""

from __future__ import annotations

import json
import random
import ssl
import time
import urllib.parse
from typing import Any

import httpx

from batchd.api.cmq import signing

PATH = "/v2/index.php"
_NOT_CMQ = "is --endpoint the address of a batchd server?"


class CmqError(Exception):
    def __init__(self, code: int, message: str, data: dict[str, Any]) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message
        self.data = data


class CmqClient:
    def __init__(
        self,
        endpoint: str,
        secret_id: str,
        secret_key: str,
        timeout: float = 10.0,
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
        self._host = parsed.netloc
        self._secret_id = secret_id
        self._secret_key = secret_key
        # https: the CA given (BATCHD_CA_CERT) or the system's trust store, not certifi's
        self._http = httpx.Client(
            timeout=timeout, verify=ssl.create_default_context(cafile=ca_cert)
        )

    def close(self) -> None:
        self._http.close()

    def call(
        self, action: str, params: dict[str, Any] | None = None, wait_seconds: float = 0
    ) -> dict[str, Any]:
        """Call an action; a CMQ error code raises CmqError (7000 'no message' included)."""
        pairs = {key: str(value) for key, value in (params or {}).items() if value is not None}
        pairs.update(
            Action=action,
            SecretId=self._secret_id,
            Nonce=str(random.randint(1, 2**62)),
            Timestamp=str(int(time.time())),
            SignatureMethod="HmacSHA256",
            RequestClient="batchd-cli",
        )
        source = signing.source_string("POST", self._host, PATH, pairs.items())
        pairs["Signature"] = signing.sign(self._secret_key, source, "HmacSHA256")
        response = self._http.post(
            self.endpoint + PATH,
            content=urllib.parse.urlencode(pairs),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=self._http.timeout.read + wait_seconds if self._http.timeout.read else None,
        )
        if response.status_code != 200:
            raise CmqError(
                -1, f"HTTP {response.status_code} from {self.endpoint}{PATH}: {_NOT_CMQ}", {}
            )
        try:
            data: dict[str, Any] = json.loads(response.text)
        except ValueError:
            raise CmqError(
                -1, f"{self.endpoint}{PATH} answered with no JSON: {_NOT_CMQ}", {}
            ) from None
        if not isinstance(data, dict):
            raise CmqError(-1, f"{self.endpoint}{PATH} answered {data!r}: {_NOT_CMQ}", {})
        if data.get("code", 0) != 0:
            raise CmqError(int(data["code"]), str(data.get("message", "")), data)
        return data
