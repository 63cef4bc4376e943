"""The answer envelope of the Batch API (batch-api.md §1.3): always HTTP 200, JSON, a RequestId."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

# Exactly this: the SDK only looks for an `Error` object when the header equals it.
MEDIA_TYPE = "application/json"


def _response(body: dict[str, Any]) -> Response:
    content = json.dumps({"Response": body}, ensure_ascii=False).encode("utf-8")
    return Response(content, status_code=200, media_type=MEDIA_TYPE)


def success(request_id: str, fields: Mapping[str, Any]) -> Response:
    """`{"Response": {...fields, "RequestId": ...}}`; raises TypeError if a field is not JSON."""
    return _response({**fields, "RequestId": request_id})


def failure(request_id: str, code: str, message: str) -> Response:
    """`{"Response": {"Error": {"Code", "Message"}, "RequestId": ...}}`."""
    return _response({"Error": {"Code": code, "Message": message}, "RequestId": request_id})
