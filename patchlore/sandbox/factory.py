"""Choosing and opening a sandbox from the settings."""

from __future__ import annotations

from collections.abc import Callable

from patchlore.config import Settings
from patchlore.errors import PatchloreError, SandboxUnavailable
from patchlore.sandbox.base import Sandbox
from patchlore.sandbox.snapshot import Snapshot, take_snapshot


def open_sandbox(
    settings: Settings, repo: str = ".", warn: Callable[[str], None] = lambda m: None,
    snapshot: Snapshot | None = None, note: Callable[[str], None] = lambda m: None,
    name: str = "", setup_required: bool = False,
) -> Sandbox:
    """A started sandbox of `repo` as it is now (or of `snapshot`, taken earlier); with
    `settings.workdir` set, of the repo that already lives in the image at that path. In
    Docker, with `settings.setup`, the repo's requirements are installed first (once, in a
    derived image: sandbox/envsetup.py); `note` hears about that, `name` names that image.
    If that install fails, the plain image is used with a warning, unless `setup_required`."""
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
        return _docker_box(settings, client, snapshot, repo, warn, note, name, setup_required)
    if snapshot is None:
        raise PatchloreError(
            "the local sandbox cannot use an image's workdir", hint="use --sandbox docker"
        )
    if settings.sandbox == "local":
        warn(_local_warning())
    from patchlore.sandbox.local_backend import LocalSandbox

    return LocalSandbox(snapshot, timeout=settings.command_timeout,
                        output_limit=settings.output_limit,
                        test_time_limit=settings.test_time_limit)


def _docker_box(settings: Settings, client, snapshot: Snapshot | None, repo: str,
                warn: Callable[[str], None], note: Callable[[str], None], name: str,
                setup_required: bool) -> Sandbox:
    """A Docker sandbox of the settings' image, or of its derived image with the repo's
    requirements installed when `setup` is on."""
    from patchlore.sandbox.docker_backend import DockerSandbox

    image = settings.image
    if settings.setup and snapshot is not None:
        from patchlore.sandbox.env.envsetup import image_with_requirements
        from patchlore.sandbox.env.pyversion import base_image

        try:  # the build is one more sandbox command, bounded like any other
            base, bounds, _ = base_image(client, settings, snapshot, repo, warn)
            image = image_with_requirements(client, base, snapshot, settings.setup_cmd,
                                            name, note, timeout=settings.command_timeout,
                                            bounds=bounds)
        except PatchloreError as exc:
            if setup_required:
                raise
            warn(f"{exc.message} ({exc.hint}); using {image} without them")
    return DockerSandbox(
        snapshot, image=image, workdir=settings.workdir, network=settings.network,
        mem_limit=settings.mem_limit, cpus=settings.cpus, pids_limit=settings.pids_limit,
        timeout=settings.command_timeout, output_limit=settings.output_limit,
        test_time_limit=settings.test_time_limit, client=client,
    )


def _local_warning() -> str:
    from patchlore.sandbox.local_backend import WARNING

    return WARNING[0].upper() + WARNING[1:] + "."
