"""The stdout and stderr files of an attempt, created on their first byte.

A command writes into a pipe; the runner thread copies what arrives to the file, creating it
then. Most short commands print nothing, and on some file systems creating a file costs more
than running `true` does (measured here: 0.1 to 0.7 ms of kernel time per new inode), so an
attempt that prints nothing creates no log files at all. Readers of a running attempt's logs see
its output as soon as it is copied, within one wake-up of the runner.
"""

from __future__ import annotations

import contextlib
import logging
import os

logger = logging.getLogger(__name__)

CHUNK = 1 << 16
TAIL_BYTES = 2048


class LazyLog:
    """One output stream of an attempt: the read end of its pipe and the file it fills."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._tail = b""
        self._file: int | None = None
        self.lost: str | None = None  # why output was dropped (the disk is full, ...)
        # Every command of the attempt writes to write_fd. The end of a command is seen on its
        # process, not on end-of-file here: a daemon it left behind may hold the pipe open.
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)

    def copy_available(self) -> None:
        """Copy what the pipe holds now to the file, without waiting for more."""
        while True:
            try:
                data = os.read(self.read_fd, CHUNK)
            except BlockingIOError:
                return
            if not data:
                return
            self._write(data)

    def tail(self) -> bytes:
        """The last TAIL_BYTES written to the file, this attempt's and those before it."""
        if self._file is None:
            try:  # output of an earlier run of the same attempt directory
                self._file = os.open(self.path, os.O_RDWR | os.O_APPEND)
            except FileNotFoundError:
                return b""
        size = os.lseek(self._file, 0, os.SEEK_END)
        if len(self._tail) >= TAIL_BYTES or size <= len(self._tail):
            return self._tail
        return os.pread(self._file, TAIL_BYTES, max(0, size - TAIL_BYTES))

    def materialize(self) -> None:
        """Create the file even if nothing was written: something will copy it."""
        if self._file is None:
            self._open()

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd, self._file):
            if fd is not None and fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.read_fd = self.write_fd = -1
        self._file = None

    def _write(self, data: bytes) -> None:
        self._tail = (self._tail + data)[-TAIL_BYTES:]
        if self.lost is not None:
            return  # keep draining the pipe, so the command is not blocked on it
        try:
            if self._file is None:
                self._open()
            assert self._file is not None
            view = memoryview(data)
            while view:
                view = view[os.write(self._file, view) :]
        except OSError as error:
            self.lost = f"cannot write {self.path}: {error}"
            logger.warning("%s; further output is dropped", self.lost)

    def _open(self) -> None:
        # Append: a re-run of the same attempt directory must not erase earlier output.
        self._file = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
