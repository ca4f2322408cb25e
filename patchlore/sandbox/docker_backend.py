"""DockerSandbox: a repo snapshot in a locked-down container, reused across candidates.

The container idles on a reaping shell as PID 1; commands run through `docker exec` as an
unprivileged user. A timeout (or output flood) kills every process of that user, which takes the
whole process tree, double-forked daemons included. If even that fails (a fork bomb filling the
pid limit), the container is restarted: its filesystem survives and `reset()` restores the repo.
"""

from __future__ import annotations

import io
import os
import shlex
import socket
import tarfile
import threading
import time
import uuid
from pathlib import Path

from patchlore.config import default_of
from patchlore.errors import SandboxError, SandboxUnavailable
from patchlore.sandbox.base import SANDBOX_LABEL, CommandResult
from patchlore.sandbox.output import KILL_FACTOR, OutputCap
from patchlore.sandbox.snapshot import Snapshot, file_tar, snapshot_tar
from patchlore.sandbox.snapshot_ops import SnapshotOps, ctl_script
from patchlore.sandbox import registry

SANDBOX_UID = 1000
USER = f"{SANDBOX_UID}:{SANDBOX_UID}"
COPY_PATH = "/repo"
# what a container may do beyond an unprivileged process: own, chown and signal files and
# processes inside it, switch users; nothing that reaches the host or the kernel
LOCKDOWN = {"security_opt": ["no-new-privileges:true"], "cap_drop": ["ALL"],
            "cap_add": ["CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETUID", "SETGID"]}
ENV_LABEL = "patchlore.env"  # on images derived with a repo's requirements (envsetup.py)
STATE_DIR = "/var/lib/patchlore"
SCRATCH = "/tmp/patchlore"
HOME = "/tmp/patchlore-home"
# PID 1 must reap orphans, or killed process trees pile up as zombies against the pid limit.
IDLE = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"]


# seconds one engine call may take once the engine answered a ping: under load (parallel
# runs, image builds) an image lookup can take far longer than the ping's few seconds
API_TIMEOUT = 120.0


def docker_client(timeout: float = 10.0):
    """A client for the engine at DOCKER_HOST (or the default socket), or a clear error."""
    import docker
    from docker.errors import DockerException

    where = os.environ.get("DOCKER_HOST", "the default socket (/var/run/docker.sock)")
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
        client.api.timeout = float(os.environ.get("PATCHLORE_DOCKER_TIMEOUT") or
                                   max(timeout, API_TIMEOUT))
    except DockerException as exc:
        raise SandboxUnavailable(
            f"Docker engine not reachable at {where}",
            hint="start Docker (or set DOCKER_HOST), or use --sandbox local",
        ) from exc
    except Exception as exc:  # requests' connection errors surface raw from ping()
        raise SandboxUnavailable(
            f"Docker engine not reachable at {where}: {exc.__class__.__name__}",
            hint="start Docker (or set DOCKER_HOST), or use --sandbox local",
        ) from exc
    return client


def engine_error(exc: BaseException) -> str:
    """What failed, when `exc` is the Docker engine's own error or its connection's (a call
    that timed out under load), else ''."""
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    if isinstance(exc, (DockerException, RequestException)):
        return f"the Docker engine failed: {exc.__class__.__name__}: {str(exc)[:200]}"
    return ""


def require_image(client, image: str):
    from docker.errors import ImageNotFound

    try:
        return client.images.get(image)
    except ImageNotFound:
        raise SandboxUnavailable(
            f"sandbox image {image!r} not found",
            hint="run `patchlore sandbox build` (or set `image` to one you have)",
        ) from None


def _labels(repo: str) -> dict[str, str]:
    """What `sandbox prune` and a later batch's sweep know a container by: whose it is."""
    return {SANDBOX_LABEL: "1", "patchlore.pid": str(os.getpid()),
            "patchlore.host": socket.gethostname(), "patchlore.repo": repo}


class DockerSandbox(SnapshotOps):
    backend = "docker"

    def __init__(
        self,
        snapshot: Snapshot | None,
        *,
        image: str,
        workdir: str = "",
        network: bool = default_of("network"),
        mem_limit: str = default_of("mem_limit"),
        cpus: float = default_of("cpus"),
        pids_limit: int = default_of("pids_limit"),
        timeout: float = default_of("command_timeout"),
        output_limit: int = default_of("output_limit"),
        test_time_limit: float = default_of("test_time_limit"),
        client=None,
    ) -> None:
        if snapshot is None and not workdir:
            raise SandboxError("a sandbox needs a repo snapshot or an image workdir")
        self.client = client or docker_client()
        require_image(self.client, image)
        self.image = image
        self.repo_path = workdir or COPY_PATH
        self.scratch_path = SCRATCH
        self.default_timeout = timeout
        self.output_limit = output_limit
        self.test_time_limit = test_time_limit
        self._ctl_env = {
            "PL_REPO": self.repo_path,
            "PL_SNAP": f"{STATE_DIR}/snapshot.git",
            "PL_OWNER": USER,
            # A copied-in snapshot has no ignored files, so cleaning them restores it exactly;
            # an image's own repo keeps its ignored build artefacts.
            "PL_CLEAN": "-x" if snapshot is not None else "",
            "PL_DIRS": f"{SCRATCH} {HOME}",
            "PL_KILL": "1",
        }
        # tracked before the engine makes it, and an interrupt held back until its answer
        # brings the handle: then it is removed whenever the interrupt comes
        self.name, self.container = f"patchlore-{os.getpid()}-{uuid.uuid4().hex[:12]}", None
        registry.track(self)
        with registry.held():
            self.container = self.client.containers.create(
                image, IDLE, name=self.name, user="0:0",
                labels=_labels(str(snapshot.root) if snapshot else workdir),
                network_mode="bridge" if network else "none", mem_limit=mem_limit,
                memswap_limit=mem_limit, nano_cpus=int(cpus * 1e9), pids_limit=pids_limit,
                **LOCKDOWN, environment={"HOME": HOME, "PYTHONDONTWRITEBYTECODE": "1"},
            )
        try:
            self.container.start()
            self._put(self._state_tar(), "/")
            if snapshot is not None:
                self._put(snapshot_tar(snapshot, COPY_PATH.lstrip("/"), SANDBOX_UID), "/")
            self._ctl_ok("init")
        except BaseException:
            self.close()
            raise

    # --- files -----------------------------------------------------------------------------
    def _state_tar(self) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(STATE_DIR.lstrip("/"))
            info.type, info.mode = tarfile.DIRTYPE, 0o700
            tar.addfile(info)
            script = ctl_script()
            info = tarfile.TarInfo(f"{STATE_DIR.lstrip('/')}/ctl.sh")
            info.size, info.mode = len(script), 0o755
            tar.addfile(info, io.BytesIO(script))
        return buf.getvalue()

    def _put(self, data: bytes, path: str) -> None:
        if not self.container.put_archive(path, data):
            raise SandboxError(f"could not copy files into the sandbox at {path}")

    def write_file(self, path: str, data: bytes) -> None:
        from docker.errors import NotFound

        if not path.startswith("/"):  # relative to the repo, as read_file and the local backend
            path = f"{self.repo_path}/{path}"
        tar = file_tar({os.path.basename(path): data}, SANDBOX_UID, SANDBOX_UID)
        parent = os.path.dirname(path)
        try:
            self._put(tar, parent)
        except NotFound:  # as the local backend: missing parents are made, owned by the user
            made = self.run(f"mkdir -p {shlex.quote(parent)}", timeout=60)
            if not made.ok:
                raise SandboxError(f"could not make {parent} in the sandbox: "
                                   f"{(made.stderr or made.stdout).strip()[:200]}") from None
            self._put(tar, parent)

    def read_file(self, path: str, limit: int = 50_000_000) -> bytes | None:
        from docker.errors import NotFound

        if not path.startswith("/"):
            path = f"{self.repo_path}/{path}"
        try:
            stream, stat = self.container.get_archive(path)
        except NotFound:
            return None
        if stat.get("size", 0) > limit:
            raise SandboxError(f"{path} in the sandbox is larger than {limit} bytes")
        raw = b"".join(stream)
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            member = tar.next()
            if member is None or not member.isfile():
                return None
            fh = tar.extractfile(member)
            return fh.read() if fh else None

    # --- commands --------------------------------------------------------------------------
    def run(
        self, command: str, timeout: float | None = None, env: dict[str, str] | None = None,
        root: bool = False,
    ) -> CommandResult:
        return self._exec(["/bin/sh", "-c", command], command, "0:0" if root else USER,
                          timeout, env or {}, killable=True)

    def _ctl(self, *args: str, env: dict[str, str] | None = None,
             timeout: float = 300) -> CommandResult:
        cmd = ["/bin/sh", f"{STATE_DIR}/ctl.sh", *args]
        # not killable: the kill itself is a ctl step, and snapshot steps are short
        return self._exec(cmd, " ".join(args), "0:0", timeout, {**self._ctl_env, **(env or {})},
                          killable=False)

    def _exec(self, argv, label, user, timeout, env, killable: bool) -> CommandResult:
        api = self.client.api
        timeout = self.default_timeout if timeout is None else timeout
        exec_id = api.exec_create(
            self.container.id, argv, user=user, workdir=self.repo_path, environment=env
        )["Id"]
        out, err = OutputCap(self.output_limit), OutputCap(self.output_limit)
        flood = KILL_FACTOR * self.output_limit
        flooded = threading.Event()
        start = time.monotonic()
        stream = api.exec_start(exec_id, stream=True, demux=True)

        def pump() -> None:
            try:
                for chunk_out, chunk_err in stream:
                    if chunk_out:
                        out.add(chunk_out)
                    if chunk_err:
                        err.add(chunk_err)
                    if out.total + err.total > flood:
                        flooded.set()  # keep draining: a stalled stream stalls the engine
            except Exception:  # the stream is closed under us after a kill or restart
                pass

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        timed_out = False
        poll = 0.005
        while True:
            reader.join(poll)
            if not reader.is_alive():
                break
            timed_out = time.monotonic() - start > timeout
            # a finished command whose background child still holds the output pipe open
            lingering = poll >= 0.05 and not api.exec_inspect(exec_id)["Running"]
            if timed_out or flooded.is_set() or lingering:
                if killable:
                    self._kill_tree()
                break
            poll = min(poll * 2, 0.2)
        reader.join(5)
        if reader.is_alive():
            stream.close()
        duration = time.monotonic() - start
        code = None if timed_out else api.exec_inspect(exec_id).get("ExitCode")
        return CommandResult(
            command=label,
            exit_code=code,
            stdout=out.text("stdout"),
            stderr=err.text("stderr") + ("\n[patchlore: output limit exceeded, command killed]\n"
                                         if flooded.is_set() else ""),
            duration=duration,
            timed_out=timed_out,
            truncated=bool(out.cut or err.cut),
        )

    def _kill_tree(self) -> None:
        """Kill every process but PID 1 (ctl.sh kill), or restart the container if that
        fails."""
        try:
            # bounded: an engine that never answers must not hang the run
            killed = self._ctl("kill", timeout=30).exit_code == 0
        except Exception:  # a full pid table can refuse even this exec
            killed = False
        if not killed:
            self._restart()

    def _restart(self) -> None:
        self.container.restart(timeout=1)

    # --- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        container, self.container = getattr(self, "container", None), None
        name, self.name = getattr(self, "name", None), None
        if name is None:
            return
        registry.untrack(self)
        try:
            (container or self.client.containers.get(name)).remove(force=True)
        except Exception:
            pass  # never made, or already gone; `patchlore sandbox prune` catches anything else

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # last resort; the registry and context managers come first
        try:
            self.close()
        except Exception:
            pass


def prune(client=None, everything: bool = False) -> list[str]:
    """Remove patchlore containers whose owning process is gone (all of them with `everything`).
    A container started from another host sharing the engine is left alone: its owner's pid
    means nothing here."""
    client = client or docker_client()
    here = socket.gethostname()
    removed = []
    for c in client.containers.list(all=True, filters={"label": f"{SANDBOX_LABEL}=1"}):
        labels = c.labels
        pid = int(labels.get("patchlore.pid", "0") or 0)
        dead = labels.get("patchlore.host") == here and not Path(f"/proc/{pid}").exists()
        if everything or dead:
            c.remove(force=True)
            removed.append(c.short_id)
    return removed


def prune_env_images(client=None) -> list[str]:
    """Remove the images derived with a repo's requirements (label patchlore.env)."""
    from docker.errors import APIError

    client = client or docker_client()
    removed = []
    for image in client.images.list(filters={"label": ENV_LABEL}):
        for tag in image.tags or [image.id]:
            try:
                client.images.remove(tag)
                removed.append(tag)
            except APIError:
                pass  # in use by a running sandbox: left for the next prune
    return removed
