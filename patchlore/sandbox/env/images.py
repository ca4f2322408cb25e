"""Building the sandbox images: from the shipped Dockerfile, or offline via debootstrap. One image
per Debian release, each with its own Python (PYTHONS); the default tag holds bookworm's."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from importlib import resources

from patchlore.config import PYTHONS
from patchlore.errors import PatchloreError, SandboxUnavailable

# pytest-timeout: a hanging test fails alone (PYTEST_TIMEOUT, sandbox/testrun.py); gcc and
# python3-dev: a project's C and Cython extensions build in its environment
PACKAGES = ["python3", "python3-pytest", "python3-pytest-timeout", "python3-pip",
            "git", "patch", "gcc", "g++", "libc6-dev", "python3-dev"]
DEFAULT_PYTHON = "3.11"
# Keep in step with the Dockerfile so both ways give the same sandbox.
IMPORT_CHANGES = ['ENV LANG=C.UTF-8', 'LABEL patchlore.image=1', 'CMD ["sleep", "infinity"]']
RECIPE_LABEL = "patchlore.recipe"  # an image built from an older recipe must be rebuilt


def recipe_id(python: str) -> str:
    """What the image's content follows from: the packages, the release and the Dockerfile."""
    dockerfile = resources.files("patchlore.sandbox.env").joinpath("Dockerfile").read_bytes()
    return hashlib.sha256(json.dumps([PACKAGES, PYTHONS[python], IMPORT_CHANGES,
                                      dockerfile.decode()]).encode()).hexdigest()[:12]


def tag_for(python: str, default_image: str) -> str:
    """The image of `python`: the default image for bookworm's, a `py3.X` tag beside it else."""
    if python == DEFAULT_PYTHON:
        return default_image
    repo = default_image.rsplit(":", 1)[0] if ":" in default_image.split("/")[-1] \
        else default_image
    return f"{repo}:py{python}"


def stale(client, tag: str) -> str:
    """Why `tag` must be (re)built, or '' when it is current."""
    from docker.errors import ImageNotFound

    try:
        labels = client.images.get(tag).attrs["Config"].get("Labels") or {}
    except ImageNotFound:
        return f"{tag} is not built"
    python = labels.get("patchlore.python", DEFAULT_PYTHON)
    if labels.get("patchlore.image") and python in PYTHONS \
            and labels.get(RECIPE_LABEL) != recipe_id(python):
        return f"{tag} was built by an older patchlore (no pytest-timeout or no compiler, ...)"
    return ""


def _labels(python: str) -> dict[str, str]:
    return {"patchlore.python": python, RECIPE_LABEL: recipe_id(python)}


def build_from_dockerfile(client, tag: str, log: Callable[[str], None],
                          python: str = DEFAULT_PYTHON) -> None:
    from docker.errors import APIError, BuildError

    dockerfile = resources.files("patchlore.sandbox.env").joinpath("Dockerfile").read_bytes()
    with tempfile.TemporaryDirectory() as ctx:
        with open(os.path.join(ctx, "Dockerfile"), "wb") as fh:
            fh.write(dockerfile)
        try:
            for line in client.api.build(path=ctx, tag=tag, rm=True, decode=True, pull=False,
                                       buildargs={"SUITE": PYTHONS[python]},
                                       labels=_labels(python)):
                if "stream" in line and line["stream"].strip():
                    log(line["stream"].rstrip())
                if "error" in line:
                    raise BuildError(line["error"], [])
        except (APIError, BuildError) as exc:
            raise PatchloreError(f"docker build failed: {str(exc).strip()[:300]}") from None


def build_with_debootstrap(client, tag: str, log: Callable[[str], None],
                           python: str = DEFAULT_PYTHON, mirror: str = "") -> None:
    if os.geteuid() != 0:
        raise PatchloreError(
            "the offline image build needs root (debootstrap and chroot)",
            hint="rerun as root, or build where a registry is reachable (--method dockerfile)",
        )
    if not shutil.which("debootstrap"):
        raise PatchloreError(
            "debootstrap is not installed", hint="apt-get install -y debootstrap, then rerun"
        )
    root = tempfile.mkdtemp(prefix="patchlore-rootfs-")
    try:
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", PYTHONS[python],
               root]
        if mirror:
            cmd.append(mirror)
        log(f"$ {' '.join(cmd)}  (about a minute)")
        _check(subprocess.run(cmd, capture_output=True, text=True), "debootstrap")
        _check(
            subprocess.run(
                ["chroot", root, "useradd", "-m", "-u", "1000", "-s", "/bin/sh", "patchlore"],
                capture_output=True, text=True,
            ),
            "useradd",
        )
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(os.path.join(root, junk), ignore_errors=True)
        log(f"importing the root filesystem as {tag}")
        repo, _, version = tag.rpartition(":") if ":" in tag.split("/")[-1] else (tag, "", "latest")
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        try:
            client.api.import_image_from_stream(
                tar.stdout, repository=repo, tag=version,
                changes=IMPORT_CHANGES + [f"LABEL {k}={v}" for k, v in _labels(python).items()])
        finally:
            tar.stdout.close()
            tar.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _check(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise PatchloreError(f"{what} failed: {' | '.join(tail)}")


def registry_reachable(client) -> bool:
    """Whether the engine can resolve the Dockerfile's base image in its registry."""
    try:
        client.api.inspect_distribution("debian:bookworm-slim")
        return True
    except Exception:
        return False


def build_image(client, tag: str, method: str, log: Callable[[str], None],
                python: str = DEFAULT_PYTHON) -> str:
    """Build `tag` with `python` (a key of PYTHONS); `method` is auto, dockerfile or
    debootstrap. Returns the method used."""
    if python not in PYTHONS:
        raise PatchloreError(f"no sandbox image for Python {python}",
                             hint=f"one of {', '.join(PYTHONS)}")
    if method == "auto":
        method = "dockerfile" if registry_reachable(client) else "debootstrap"
        log(f"registry {'reachable' if method == 'dockerfile' else 'unreachable'}: using {method}")
    if method == "dockerfile":
        build_from_dockerfile(client, tag, log, python)
    elif method == "debootstrap":
        build_with_debootstrap(client, tag, log, python)
    else:
        raise SandboxUnavailable(f"unknown build method {method!r}", hint="auto, dockerfile or debootstrap")
    return method
