"""The official Node.js SDK (npm `tencentcloud-sdk-nodejs`, installed in tests/node by `make
test`) as a test client: one long-lived `node tests/node/drive.js` that makes each call."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from tests.support import RunningServer

NODE_DIR = Path(__file__).parent / "node"
SDK_DIR = NODE_DIR / "node_modules" / "tencentcloud-sdk-nodejs"


class NodeSdkError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message


def require_node_sdk() -> str:
    """The `node` executable; skips (fails under CI=true) when node or the SDK is missing."""
    node = shutil.which("node")
    problem = (
        "node is not installed (Debian: apt-get install nodejs npm)"
        if node is None
        else f"the Node.js SDK is not installed: run `npm ci --prefix {NODE_DIR}` (make test does)"
        if not SDK_DIR.is_dir()
        else None
    )
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs the Node.js SDK tests: {problem}")
        pytest.skip(problem)
    assert node is not None
    return node


class NodeSdk:
    """`sdk("batch", "SubmitJob", {...})` answers the SDK's parsed answer or raises NodeSdkError."""

    def __init__(self, server: RunningServer) -> None:
        node = require_node_sdk()
        env = {key: value for key, value in os.environ.items() if not key.startswith("BATCHD_")}
        env.update(
            # as users give it: an IP and a port, which the SDK signs its own way
            BATCHD_ENDPOINT=server.host,
            BATCHD_SECRET_ID=server.credential.secret_id,
            BATCHD_SECRET_KEY=server.credential.secret_key,
        )
        self._process = subprocess.Popen(
            [node, str(NODE_DIR / "drive.js")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def __call__(
        self, api: str, action: str, params: dict[str, Any] | None = None, region: str = ""
    ) -> Any:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        request = {"api": api, "action": action, "params": params or {}, "region": region}
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        assert line, f"node exited with {self._process.poll()}"
        answer = json.loads(line)
        if "error" in answer:
            raise NodeSdkError(answer["error"]["code"], answer["error"]["message"])
        return answer["ok"]

    def error(self, api: str, action: str, params: dict[str, Any] | None = None) -> NodeSdkError:
        with pytest.raises(NodeSdkError) as caught:
            self(api, action, params)
        return caught.value

    def __enter__(self) -> NodeSdk:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.close()  # drive.js ends at the end of its input
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()
