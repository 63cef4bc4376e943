"""Wake-ups that follow a commit, in this process and in every other replica of the database.

A unit of work announces what its commit changes (`Tx.announce("queue", pk, visible)`): once
it is durable the hub calls this process's handlers on the event loop, and on PostgreSQL the
same commit carries a NOTIFY (transactional: sent only if the commit happens) that the other
replicas' listeners hand to their own hubs. So a long poll, the controller or the keyring wake
the same way whichever replica made the change, and none of them knows where it came from.

A listener that loses its connection cannot know what it missed: once connected again it calls
every `on_resync` handler (wake every long poll, step every job, reload the keys).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

CHANNEL = "batchd"
MAX_PAYLOAD = 7900  # PostgreSQL refuses a NOTIFY payload of 8000 bytes or more
RECONNECT_SECONDS = 1.0
# PostgreSQL keeps every notification until all listeners have read it: a replica that stops
# reading (frozen) would make the queue grow until NOTIFY, and so every write, fails. Its session
# is ended after IDLE_SESSION_SECONDS without a statement; a live listener sends one more often.
IDLE_SESSION_SECONDS = 300
PING_SECONDS = 30.0

Announcement = tuple[str, tuple[str, ...]]  # (kind, arguments)
Handler = Callable[..., None]


class Hub:
    """Handlers by kind of announcement. Loop thread only."""

    def __init__(self, replica: str = "") -> None:
        self.replica = replica  # names this process in its NOTIFY payloads
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)
        self._resync: list[Callable[[], None]] = []

    def on(self, kind: str, handler: Handler) -> None:
        """Call `handler(*arguments)` for every committed announcement of `kind`."""
        self._handlers[kind].append(handler)

    def on_resync(self, handler: Callable[[], None]) -> None:
        """Call `handler()` when announcements of other replicas may have been missed."""
        self._resync.append(handler)

    def dispatch(self, announcements: Iterable[Announcement]) -> None:
        for kind, arguments in announcements:
            for handler in self._handlers.get(kind, ()):
                try:
                    handler(*arguments)
                except Exception:
                    log.exception("wake-up handler failed", extra={"event": "wakeup_failed"})

    def resync(self) -> None:
        for handler in self._resync:
            try:
                handler()
            except Exception:
                log.exception("wake-up handler failed", extra={"event": "wakeup_failed"})


def encode(sender: str, announcements: Sequence[Announcement]) -> list[str]:
    """NOTIFY payloads for `announcements`: lines of space-separated words under a first line
    naming the sender, each payload under MAX_PAYLOAD bytes."""
    payloads: list[str] = []
    lines: list[str] = []
    size = len(sender)
    for kind, arguments in announcements:
        line = " ".join((kind, *arguments))
        if lines and size + len(line) + 1 >= MAX_PAYLOAD:
            payloads.append("\n".join([sender, *lines]))
            lines, size = [], len(sender)
        lines.append(line)
        size += len(line) + 1
    if lines:
        payloads.append("\n".join([sender, *lines]))
    return payloads


def decode(payload: str) -> tuple[str, list[Announcement]]:
    sender, *lines = payload.split("\n")
    announcements: list[Announcement] = []
    for line in lines:
        kind, *arguments = line.split(" ")
        announcements.append((kind, tuple(arguments)))
    return sender, announcements


def notify(conn: Connection, sender: str, announcements: Sequence[Announcement]) -> None:
    """Send `announcements` to the other replicas when `conn`'s transaction commits."""
    for payload in encode(sender, announcements):
        conn.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {
                "channel": CHANNEL,
                "payload": payload,
            },
        )


class Listener:
    """A thread that LISTENs on a connection of its own and hands other replicas'
    announcements to `hub` on `loop`."""

    def __init__(
        self, database_url: str, hub: Hub, loop: asyncio.AbstractEventLoop, name: str = "batchd"
    ) -> None:
        # libpq's form of the SQLAlchemy URL: psycopg connects without SQLAlchemy's pool.
        self._dsn = (
            make_url(database_url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
        self._hub = hub
        self._loop = loop
        self._name = name
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="batchd-listener", daemon=True)
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        missed = False  # nothing can have been missed before the first connection
        while not self._stopping.is_set():
            try:
                with psycopg.connect(
                    self._dsn,
                    autocommit=True,
                    application_name=f"batchd listen {self._name}"[:63],
                    options=f"-c idle_session_timeout={IDLE_SESSION_SECONDS * 1000}",
                ) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.connected.set()
                    if missed:
                        self._loop.call_soon_threadsafe(self._hub.resync)
                    pinged = time.monotonic()
                    while not self._stopping.is_set():
                        for notice in conn.notifies(timeout=0.5):
                            self._deliver(notice.payload)
                        if time.monotonic() - pinged > PING_SECONDS:
                            conn.execute("SELECT 1")
                            pinged = time.monotonic()
            except Exception:
                if self._stopping.is_set():
                    return
                log.warning(
                    "lost the connection that hears other replicas; connecting again",
                    exc_info=True,
                    extra={"event": "listener_lost"},
                )
            self.connected.clear()
            missed = True
            time.sleep(RECONNECT_SECONDS)

    def _deliver(self, payload: str) -> None:
        try:
            sender, announcements = decode(payload)
        except ValueError:
            log.warning("ignoring a malformed wake-up %r", payload[:80])
            return
        if sender != self._hub.replica and announcements and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._hub.dispatch, announcements)
