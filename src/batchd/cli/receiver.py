"""Receiving from a queue: long polls that Ctrl-C or SIGTERM end cleanly, a status while
waiting, and deleting what was received."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from batchd.cli.client import CmqClient, CmqError
from batchd.cli.output import err


class Stop(Exception):
    """SIGINT or SIGTERM arrived while nothing was in hand: leave at once."""


class Stopper:
    """Ctrl-C / SIGTERM end `receive --follow` cleanly.

    While a long poll is waiting, a signal interrupts it at once; while received messages
    are being shown and deleted, it only asks the loop to stop after that batch, so that
    nothing shown is left undeleted.
    """

    def __init__(self) -> None:
        self.requested = False
        self._interruptible = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Stopper:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True
        if self._interruptible:
            raise Stop

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        if self.requested:
            raise Stop
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False


@contextmanager
def status(text: str, *, spinner: bool, line: bool) -> Iterator[Callable[[str], None]]:
    """While waiting: a `spinner` on stderr if it is a terminal, else `text` once as a `line`."""
    if err.is_terminal and spinner:
        with err.status(text) as status:
            yield status.update
        return
    if line and not err.is_terminal:
        err.print(text, markup=False, highlight=False)
    yield lambda _text: None


def receive(client: CmqClient, name: str, count: int, wait: int) -> list[dict[str, Any]]:
    """Up to `count` messages, waiting up to `wait` seconds; [] when there is none."""
    try:
        data = client.call(
            "BatchReceiveMessage",
            {"queueName": name, "numOfMsg": count, "pollingWaitSeconds": wait},
            wait_seconds=wait,
        )
    except CmqError as error:
        if error.code != 7000:  # 7000: no message
            raise
        return []
    messages: list[dict[str, Any]] = data["msgInfoList"]
    return messages


def delete(client: CmqClient, name: str, messages: list[dict[str, Any]]) -> None:
    """Delete `messages`, received from queue `name`, in one request."""
    params: dict[str, Any] = {"queueName": name}
    params.update(
        {f"receiptHandle.{i}": m["receiptHandle"] for i, m in enumerate(messages, start=1)}
    )
    client.call("BatchDeleteMessage", params)
