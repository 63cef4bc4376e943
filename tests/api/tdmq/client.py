"""The official TDMQ client (`tencentcloud-sdk-python`'s tdmq) pointed at a batchd server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.tdmq.v20200217 import models, tdmq_client

from tests.support import RunningServer


class Tdmq:
    """Calls an action by name with a dict of request fields, answers the parsed model."""

    def __init__(self, server: RunningServer, region: str = "ap-guangzhou") -> None:
        http = HttpProfile(endpoint=server.host, protocol="http", reqTimeout=60)
        self.client = tdmq_client.TdmqClient(
            credential.Credential(server.credential.secret_id, server.credential.secret_key),
            region,
            ClientProfile(httpProfile=http),
        )

    def __call__(self, action: str, **fields: Any) -> Any:
        request = getattr(models, f"{action}Request")()
        request.from_json_string(json.dumps(fields))
        return getattr(self.client, action)(request)

    def error(self, action: str, **fields: Any) -> TencentCloudSDKException:
        """The error `action` answers."""
        with pytest.raises(TencentCloudSDKException) as caught:
            self(action, **fields)
        return caught.value
