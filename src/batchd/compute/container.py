"""Running an attempt's commands in a container: finding the engine, its command line, cleanup."""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess

from batchd.compute.instance import InstanceSpec

logger = logging.getLogger(__name__)

WORK_DIR = "/batch"  # where the attempt's work dir is mounted inside the container


def engine_for(spec: InstanceSpec) -> tuple[str | None, str]:
    """The docker (or podman) executable, or None and why the image cannot run here."""
    try:
        shlex.split(spec.docker_run_option)
    except ValueError as error:
        return None, f"cannot parse DockerRunOption {spec.docker_run_option!r}: {error}"
    engine = shutil.which("docker") or shutil.which("podman")
    if engine is None:
        return None, f"image {spec.docker_image} needs docker or podman; neither is on PATH"
    return engine, ""


def run_argv(
    spec: InstanceSpec,
    engine: str,
    container: str,
    env: dict[str, str],
    command: str,
    variables: list[str],
) -> list[str]:
    """The engine's command line that runs `command` in the image; `variables` are passed on."""
    # "-e NAME" without a value passes the variable from the engine client's environment.
    names = [*variables, *(name for name, _ in spec.env_vars)]
    env_flags = [flag for name in dict.fromkeys(names) if name in env for flag in ("-e", name)]
    volume = f"{os.path.abspath(spec.work_dir)}:{WORK_DIR}"
    run = [engine, "run", "--rm", "--name", container, "-v", volume, "-w", WORK_DIR]
    image = spec.docker_image or ""
    return [*run, *env_flags, *shlex.split(spec.docker_run_option), image, "/bin/sh", "-c", command]


def name_for(key: str, number: int) -> str:
    """The container name of command `number` of attempt `key`."""
    return f"batchd-{re.sub(r'[^A-Za-z0-9_.-]', '.', key)}-{number}"


def remove(engine: str, container: str) -> None:
    """Remove a container whose client was killed (which does not stop the container)."""
    # Best effort: the attempt is over anyway.
    try:
        subprocess.run(
            [engine, "rm", "-f", container], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        logger.warning("cannot remove container %s: %s", container, error)
