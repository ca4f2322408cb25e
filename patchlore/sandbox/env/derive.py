"""Deriving an image from another: run a setup script as root in a container that may use the
network, then commit the result. This is how an instance's requirements get installed; the
tests later run in the derived image with the network off, as always."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from patchlore.errors import PatchloreError
from patchlore.sandbox import registry
from patchlore.sandbox.base import SANDBOX_LABEL


class _Setup:
    """A setup container, removed at exit or on SIGTERM like any sandbox."""

    def __init__(self, container) -> None:
        self.container = container
        registry.track(self)

    def close(self) -> None:
        container, self.container = self.container, None
        if container is not None:
            registry.untrack(self)
            try:
                container.remove(force=True)
            except Exception:
                pass  # `patchlore sandbox prune` removes what is left


def derive_image(client, base: str, tag: str, script: str, *, files: list[bytes] = (),
                 env: dict[str, str] | None = None, changes: list[str] | None = None,
                 timeout: float = 1800, log_path: Path | None = None,
                 mem_limit: str = "4g") -> None:
    """Commit `base` + `files` (tars, unpacked at /) + what `script` did, as `tag`.
    Raises a PatchloreError with the script's last lines if it fails or times out."""
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import ReadTimeout

    from patchlore.sandbox.docker_backend import LOCKDOWN

    labels = {SANDBOX_LABEL: "1", "patchlore.pid": str(os.getpid()),
              "patchlore.host": socket.gethostname(), "patchlore.setup": tag}
    setup = _Setup(client.containers.create(
        base, ["/bin/sh", "-c", script], user="0:0", network_mode="bridge",
        environment=env or {}, labels=labels, mem_limit=mem_limit, pids_limit=4096,
        **LOCKDOWN))  # the repo's own setup code runs here, as root, with network
    try:
        container = setup.container
        for tar in files:
            if not container.put_archive("/", tar):
                raise PatchloreError("could not copy files into the setup container")
        container.start()
        try:
            code = container.wait(timeout=timeout)["StatusCode"]
        except (ReadTimeout, RequestsConnectionError):
            code = None
        log = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_text(log)
        if code != 0:
            where, tail = failure(log)
            what = f"timed out after {timeout:.0f} s" if code is None else f"exit {code}"
            raise PatchloreError(f"environment setup for {tag} failed{where} ({what}): {tail}",
                                 hint=f"full log: {log_path}" if log_path else "")
        repository, _, version = tag.rpartition(":")
        container.commit(repository=repository, tag=version, changes=changes or [])
    finally:
        setup.close()


def failure(log: str) -> tuple[str, str]:
    """Where a setup script's log ends (" at `step`", or '') and its last lines."""
    lines = log.strip().splitlines()
    # the script runs under `set -x`: its last traced command is the step that failed
    step = next((ln[2:] for ln in reversed(lines) if ln.startswith("+ ")), "")
    return (f" at `{step[:120]}`" if step else ""), " | ".join(lines[-3:])[-400:]
