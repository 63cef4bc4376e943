"""Files in and out of the work dir: input/output mappings, redirects and packages (§4.8)."""

from __future__ import annotations

import importlib.util
import io
import socket
import tarfile
import zipfile
from pathlib import Path

import pytest

from batchd.compute.runner import run_instance
from tests.compute.conftest import SpecFactory


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """A small tree of input files outside the work dir."""
    root = tmp_path / "sources"
    (root / "tree" / "sub").mkdir(parents=True)
    (root / "tree" / "empty").mkdir()
    (root / "a.txt").write_text("alpha\n")
    (root / "b.txt").write_text("beta\n")
    (root / "tree" / "sub" / "c.txt").write_text("gamma\n")
    return root


def test_input_mappings_copy_files_and_trees(make_spec: SpecFactory, sources: Path) -> None:
    spec = make_spec(
        command="cat in/a.txt data/b.txt tree/sub/c.txt && test -d tree/empty",
        input_mappings=(
            ((sources / "a.txt").as_uri(), "in/a.txt"),  # file:// URL to a new file path
            (str(sources / "b.txt"), "data/"),  # plain path into a directory
            (str(sources / "tree"), "tree"),  # a whole tree
        ),
    )

    result = run_instance(spec)

    assert (result.exit_code, result.reason) == (0, ""), result.detail
    assert result.stdout_tail == b"alpha\nbeta\ngamma\n"


def test_input_to_an_absolute_destination(
    make_spec: SpecFactory, sources: Path, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere" / "a.txt"
    spec = make_spec(input_mappings=((str(sources / "a.txt"), target.as_uri()),))

    assert run_instance(spec).reason == ""
    assert target.read_text() == "alpha\n"


def test_missing_input_fails_before_the_command(make_spec: SpecFactory, tmp_path: Path) -> None:
    spec = make_spec(command="touch ran", input_mappings=((str(tmp_path / "nope.txt"), "x"),))

    result = run_instance(spec)

    assert (result.exit_code, result.reason) == (None, "INPUT_MAPPING_FAILED")
    assert "nope.txt" in result.detail
    assert result.started_at is None
    assert not (Path(spec.work_dir) / "ran").exists()


@pytest.mark.parametrize("uri", ["s3://bucket/key", "cos://bucket-125/key", "ftp://host/x"])
def test_unsupported_input_scheme_is_named(make_spec: SpecFactory, uri: str) -> None:
    result = run_instance(make_spec(input_mappings=((uri, "x"),)))

    scheme = uri.split("://")[0]
    assert result.reason == "INPUT_MAPPING_FAILED"
    assert f"unsupported URI scheme '{scheme}://'" in result.detail


def test_http_input_from_a_closed_port_fails_clearly(make_spec: SpecFactory) -> None:
    with socket.socket() as sock:  # a port nobody listens on once the socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/input.txt"

    result = run_instance(make_spec(input_mappings=((url, "input.txt"),)))

    assert result.reason == "INPUT_MAPPING_FAILED"
    assert url in result.detail
    if importlib.util.find_spec("aiohttp") is None:
        assert "aiohttp" in result.detail


def test_output_mappings_copy_after_success(make_spec: SpecFactory, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    spec = make_spec(
        command="echo out > out.txt && mkdir -p results/sub && echo x > results/sub/x.txt",
        output_mappings=(
            ("out.txt", (dest / "files" / "out.txt").as_uri()),  # file:// URL
            ("out.txt", f"{dest}/dir/"),  # plain path, into a directory
            ("results", str(dest / "results")),  # a tree
        ),
    )

    result = run_instance(spec)

    assert (result.exit_code, result.reason) == (0, ""), result.detail
    assert (dest / "files" / "out.txt").read_text() == "out\n"
    assert (dest / "dir" / "out.txt").read_text() == "out\n"
    assert (dest / "results" / "sub" / "x.txt").read_text() == "x\n"


def test_absolute_output_source(make_spec: SpecFactory, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    spec = make_spec(
        command=f"echo abs > {outside}",
        output_mappings=((str(outside), str(tmp_path / "copy.txt")),),
    )

    assert run_instance(spec).reason == ""
    assert (tmp_path / "copy.txt").read_text() == "abs\n"


def test_outputs_are_not_copied_after_a_failure(make_spec: SpecFactory, tmp_path: Path) -> None:
    spec = make_spec(
        command="echo out > out.txt; exit 1",
        output_mappings=(("out.txt", str(tmp_path / "dest.txt")),),
    )

    assert run_instance(spec).reason == "EXIT_CODE_NON_ZERO"
    assert not (tmp_path / "dest.txt").exists()


def test_missing_output_fails_the_attempt(make_spec: SpecFactory, tmp_path: Path) -> None:
    spec = make_spec(output_mappings=(("never-written.txt", str(tmp_path / "dest.txt")),))

    result = run_instance(spec)

    assert (result.exit_code, result.reason) == (0, "OUTPUT_MAPPING_FAILED")
    assert "never-written.txt" in result.detail


@pytest.mark.parametrize("uri", ["cos://bucket-125/out", "http://127.0.0.1:1/out"])
def test_unsupported_output_scheme_is_named(make_spec: SpecFactory, uri: str) -> None:
    spec = make_spec(command="touch out", output_mappings=(("out", uri),))

    result = run_instance(spec)

    assert result.reason == "OUTPUT_MAPPING_FAILED"
    assert f"unsupported URI scheme '{uri.split('://')[0]}://'" in result.detail


def test_redirects_copy_both_streams_even_after_a_failure(
    make_spec: SpecFactory, tmp_path: Path
) -> None:
    out_file = tmp_path / "logs" / "stdout.job-abc12345.Task1.0.log"
    err_file = tmp_path / "local" / "stderr.job-abc12345.Task1.0.log"
    spec = make_spec(
        command="echo to-out; echo to-err >&2; exit 4",
        stdout_redirect=out_file.as_uri(),
        stderr_redirect=str(err_file),
    )

    result = run_instance(spec)

    assert result.reason == "EXIT_CODE_NON_ZERO"
    assert out_file.read_text() == "to-out\n"
    assert err_file.read_text() == "to-err\n"


def test_failed_redirect_fails_a_successful_attempt(make_spec: SpecFactory) -> None:
    result = run_instance(make_spec(stdout_redirect="cos://bucket-125/logs/stdout.log"))

    assert (result.exit_code, result.reason) == (0, "OUTPUT_MAPPING_FAILED")
    assert "cos://" in result.detail


def _script_package(path: Path) -> None:
    """A package holding an executable run.sh and a data file, in the format its name says."""
    script = b"#!/bin/sh\necho packaged $(cat data/value.txt)\n"
    files = {"run.sh": (script, 0o755), "data/value.txt": (b"42\n", 0o644)}
    if path.suffix == ".zip":
        with zipfile.ZipFile(path, "w") as archive:
            for name, (content, mode) in files.items():
                info = zipfile.ZipInfo(name)
                info.external_attr = mode << 16
                archive.writestr(info, content)
        return
    compressed = path.name.endswith((".tar.gz", ".tgz"))
    with tarfile.open(path, "w:gz") if compressed else tarfile.open(path, "w") as archive:
        for name, (content, file_mode) in files.items():
            member = tarfile.TarInfo(name)
            member.size, member.mode = len(content), file_mode
            archive.addfile(member, io.BytesIO(content))


@pytest.mark.parametrize("name", ["pkg.tar.gz", "pkg.tgz", "pkg.tar", "pkg.zip"])
def test_package_is_unpacked_into_the_work_dir(
    make_spec: SpecFactory, tmp_path: Path, name: str
) -> None:
    package = tmp_path / name
    _script_package(package)

    result = run_instance(make_spec(command="./run.sh", package_path=package.as_uri()))

    assert (result.exit_code, result.reason) == (0, ""), result.detail
    assert result.stdout_tail == b"packaged 42\n"


def test_package_with_an_unknown_format(make_spec: SpecFactory, tmp_path: Path) -> None:
    package = tmp_path / "pkg.rar"
    package.write_bytes(b"not an archive")

    result = run_instance(make_spec(package_path=str(package)))

    assert (result.reason, result.started_at) == ("PACKAGE_FAILED", None)
    assert ".tar.gz, .tgz, .tar or .zip" in result.detail


def test_missing_or_broken_package(make_spec: SpecFactory, tmp_path: Path) -> None:
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(b"not gzip")

    missing = run_instance(make_spec(package_path=str(tmp_path / "missing.tar.gz")))
    bad = run_instance(make_spec(package_path=str(broken), key="job-abc12345/Task1/0/2"))

    assert missing.reason == "PACKAGE_FAILED"
    assert "missing.tar.gz" in missing.detail
    assert bad.reason == "PACKAGE_FAILED"


def test_package_cannot_write_outside_the_work_dir(make_spec: SpecFactory, tmp_path: Path) -> None:
    package = tmp_path / "evil.tar"
    with tarfile.open(package, "w") as archive:
        member = tarfile.TarInfo("../../escaped.txt")
        member.size = 1
        archive.addfile(member, io.BytesIO(b"x"))
    spec = make_spec(package_path=str(package))

    result = run_instance(spec)

    assert result.reason == "PACKAGE_FAILED"
    assert not (Path(spec.work_dir).parent.parent / "escaped.txt").exists()
