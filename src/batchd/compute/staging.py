"""Copying files into and out of an attempt's work dir with fsspec (batch-api.md §4.8).

Supported: local paths and ``file://`` URLs both ways; ``http(s)://`` as a source only (it needs
aiohttp on the compute node). Every failure becomes a `StagingError` whose message is the detail
the user sees.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
import tempfile
import zipfile
from typing import Any
from urllib.parse import urlsplit

import fsspec
from fsspec.implementations.local import LocalFileSystem

from batchd.domain import storage

_PACKAGE_SUFFIXES = {".tar.gz": "tar", ".tgz": "tar", ".tar": "tar", ".zip": "zip"}


class StagingError(Exception):
    """A copy into or out of the work dir failed; the message says what and why."""


def stage_in(source: str, destination: str, work_dir: str) -> None:
    """Copy `source` (a file or a directory tree) to `destination` (relative to `work_dir`).

    A destination ending in "/" or naming an existing directory receives the file under its own
    name; otherwise it is the new file's path.
    """
    fs, src = _filesystem(source, "input")
    dest = _local_destination(destination, work_dir)
    try:
        if not fs.exists(src):
            raise FileNotFoundError(f"{source} does not exist")
        if fs.isdir(src):
            for path, info in fs.find(src, withdirs=True, detail=True).items():
                target = os.path.join(dest, posixpath.relpath(path, src))
                if info["type"] == "directory":
                    os.makedirs(target, exist_ok=True)
                else:
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    fs.get_file(path, target)
            os.makedirs(dest, exist_ok=True)  # an empty source directory still appears
            return
        if destination.endswith("/") or os.path.isdir(dest):
            dest = os.path.join(dest, posixpath.basename(src.rstrip("/")))
        os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
        fs.get_file(src, dest)
    except Exception as error:  # any failure of any filesystem is a failed mapping, not a crash
        raise StagingError(f"cannot copy {source} to {destination}: {_describe(error)}") from error


def stage_out(source: str, destination: str, work_dir: str) -> None:
    """Copy `source` (relative to `work_dir`, or absolute) to the `destination` URI.

    Directory trees are copied recursively; a file goes under its own name into a destination
    ending in "/" or naming an existing directory.
    """
    fs, dest = _filesystem(destination, "output")
    src = os.path.join(work_dir, source)  # join keeps an absolute `source` as it is
    try:
        if os.path.isdir(src):
            for root, dirs, files in os.walk(src):
                rel = os.path.relpath(root, src)
                base = dest if rel == "." else posixpath.join(dest, *rel.split(os.sep))
                fs.makedirs(base, exist_ok=True)
                for name in files:
                    fs.put_file(os.path.join(root, name), posixpath.join(base, name))
                dirs.sort()
            return
        if not os.path.exists(src):
            raise FileNotFoundError(f"{source} does not exist in the work dir")
        if destination.endswith("/") or fs.isdir(dest):
            dest = posixpath.join(dest, os.path.basename(src))
        fs.makedirs(posixpath.dirname(dest), exist_ok=True)
        fs.put_file(src, dest)
    except Exception as error:  # any failure of any filesystem is a failed mapping, not a crash
        raise StagingError(f"cannot copy {source} to {destination}: {_describe(error)}") from error


def unpack_package(package_path: str, work_dir: str) -> None:
    """Fetch the package and unpack it (.tar.gz, .tgz, .tar, .zip) into `work_dir`."""
    name = (
        urlsplit(package_path).path if storage.has_scheme(package_path) else package_path
    ).lower()
    kind = next((k for suffix, k in _PACKAGE_SUFFIXES.items() if name.endswith(suffix)), None)
    if kind is None:
        raise StagingError(
            f"cannot unpack {package_path}: unsupported package format "
            "(expected .tar.gz, .tgz, .tar or .zip)"
        )
    fs, path = _filesystem(package_path, "package")
    try:
        if isinstance(fs, LocalFileSystem):
            _unpack(path, kind, work_dir)
            return
        with tempfile.TemporaryDirectory(prefix="batchd-package-") as tmp:
            local = os.path.join(tmp, "package")
            fs.get_file(path, local)
            _unpack(local, kind, work_dir)
    except Exception as error:  # a broken archive or fetch is a failed package, not a crash
        raise StagingError(f"cannot unpack {package_path}: {_describe(error)}") from error


def _unpack(archive: str, kind: str, work_dir: str) -> None:
    if kind == "tar":
        with tarfile.open(archive) as tar:
            # "data" refuses absolute paths, ".." escapes, links out of the tree and devices.
            tar.extractall(work_dir, filter="data")
        return
    with zipfile.ZipFile(archive) as archive_file:
        archive_file.extractall(work_dir)  # zipfile already drops absolute and ".." parts
        # zipfile ignores Unix modes; scripts in a package must stay executable.
        for info in archive_file.infolist():
            mode = (info.external_attr >> 16) & 0o777
            if mode & 0o111 and not info.is_dir():
                target = os.path.join(work_dir, info.filename)
                os.chmod(target, os.stat(target).st_mode | (mode & 0o111) | stat.S_IRUSR)


def _filesystem(uri: str, direction: storage.Direction) -> tuple[Any, str]:
    """The fsspec filesystem and path for `uri`, or a StagingError naming what is unsupported."""
    problem = storage.refusal(uri, direction)
    if problem is not None:
        raise StagingError(problem)
    scheme = storage.scheme_of(uri)
    if scheme == "file":
        fs, path = fsspec.core.url_to_fs(uri)
        return fs, str(path)
    try:
        return fsspec.filesystem(scheme), uri
    except ImportError as error:
        raise StagingError(
            f"cannot fetch {uri}: {scheme}:// sources need the aiohttp package on the "
            f"compute node ({error})"
        ) from error


def _local_destination(destination: str, work_dir: str) -> str:
    problem = storage.refusal(destination, "local")
    if problem is not None:
        raise StagingError(f"{problem} (relative to the work dir, or absolute)")
    path = (
        str(fsspec.core.url_to_fs(destination)[1])
        if storage.has_scheme(destination)
        else destination
    )
    return os.path.join(work_dir, path)  # join keeps an absolute path as it is


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
