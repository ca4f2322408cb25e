"""Choosing and opening a sandbox from the settings."""

from __future__ import annotations

from collections.abc import Callable

from patchlore.config import Settings
from patchlore.errors import PatchloreError, SandboxUnavailable
from patchlore.sandbox.base import Sandbox
from patchlore.sandbox.snapshot import Snapshot, take_snapshot


def open_sandbox(
    settings: Settings, repo: str = ".", warn: Callable[[str], None] = lambda m: None,
    snapshot: Snapshot | None = None,
) -> Sandbox:
    """A started sandbox of `repo` as it is now (or of `snapshot`, taken earlier); with
    `settings.workdir` set, of the repo that already lives in the image at that path."""
    if settings.workdir:
        snapshot = None
    elif snapshot is None:
        snapshot = take_snapshot(repo)
    backend = settings.sandbox
    client = None
    if backend in ("auto", "docker"):
        from patchlore.sandbox.docker_backend import docker_client

        try:
            client = docker_client()
            backend = "docker"
        except SandboxUnavailable as exc:
            if backend == "docker":
                raise
            warn(f"{exc.message}; falling back to the local sandbox. {_local_warning()}")
            backend = "local"
    if backend == "docker":
        from patchlore.sandbox.docker_backend import DockerSandbox

        return DockerSandbox(
            snapshot, image=settings.image, workdir=settings.workdir, network=settings.network,
            mem_limit=settings.mem_limit, cpus=settings.cpus, pids_limit=settings.pids_limit,
            timeout=settings.timeout, output_limit=settings.output_limit, client=client,
        )
    if snapshot is None:
        raise PatchloreError(
            "the local sandbox cannot use an image's workdir", hint="use --sandbox docker"
        )
    if settings.sandbox == "local":
        warn(_local_warning())
    from patchlore.sandbox.local_backend import LocalSandbox

    return LocalSandbox(snapshot, timeout=settings.timeout, output_limit=settings.output_limit)


def _local_warning() -> str:
    from patchlore.sandbox.local_backend import WARNING

    return WARNING[0].upper() + WARNING[1:] + "."
