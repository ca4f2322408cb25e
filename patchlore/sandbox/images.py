"""Building the default sandbox image: from the shipped Dockerfile, or offline via debootstrap."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from importlib import resources

from patchlore.errors import PatchloreError, SandboxUnavailable

PACKAGES = ["python3", "python3-pytest", "python3-pip", "git", "patch"]
SUITE = "bookworm"
# Keep in step with the Dockerfile so both ways give the same sandbox.
IMPORT_CHANGES = ['ENV LANG=C.UTF-8', 'LABEL patchlore.image=1', 'CMD ["sleep", "infinity"]']


def build_from_dockerfile(client, tag: str, log: Callable[[str], None]) -> None:
    from docker.errors import APIError, BuildError

    dockerfile = resources.files("patchlore.sandbox").joinpath("Dockerfile").read_bytes()
    with tempfile.TemporaryDirectory() as ctx:
        with open(os.path.join(ctx, "Dockerfile"), "wb") as fh:
            fh.write(dockerfile)
        try:
            for line in client.api.build(path=ctx, tag=tag, rm=True, decode=True, pull=False):
                if "stream" in line and line["stream"].strip():
                    log(line["stream"].rstrip())
                if "error" in line:
                    raise BuildError(line["error"], [])
        except (APIError, BuildError) as exc:
            raise PatchloreError(f"docker build failed: {str(exc).strip()[:300]}") from None


def build_with_debootstrap(client, tag: str, log: Callable[[str], None], mirror: str = "") -> None:
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
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, root]
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
                tar.stdout, repository=repo, tag=version, changes=IMPORT_CHANGES
            )
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


def build_image(client, tag: str, method: str, log: Callable[[str], None]) -> str:
    """Build `tag`; `method` is auto, dockerfile or debootstrap. Returns the method used."""
    if method == "auto":
        method = "dockerfile" if registry_reachable(client) else "debootstrap"
        log(f"registry {'reachable' if method == 'dockerfile' else 'unreachable'}: using {method}")
    if method == "dockerfile":
        build_from_dockerfile(client, tag, log)
    elif method == "debootstrap":
        build_with_debootstrap(client, tag, log)
    else:
        raise SandboxUnavailable(f"unknown build method {method!r}", hint="auto, dockerfile or debootstrap")
    return method
