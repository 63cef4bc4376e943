"""RecordingEndpoint: a real HTTP receiver on 127.0.0.1 that records pushes and fails on demand."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class RecordingEndpoint:
    """Answers 200 and records each POST; `fail_next(n)` makes the next n answer 500."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.failures: list[Received] = []
        self._fail_remaining = 0
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = Received(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                status = endpoint._record(request)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _record(self, request: Received) -> int:
        with self._lock:
            if self._fail_remaining > 0:
                self._fail_remaining -= 1
                self.failures.append(request)
                return 500
            self.received.append(request)
            return 200

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._fail_remaining = count

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/push"

    def __enter__(self) -> RecordingEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
