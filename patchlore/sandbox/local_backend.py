"""LocalSandbox: a temporary copy of the repo and plain subprocesses. It does NOT isolate.

For machines without Docker. Commands run as the current user with the host's network and
files; only the repo copy, timeouts and process-group kills separate them from the host.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from patchlore.config import default_of
from patchlore.errors import SandboxError
from patchlore.sandbox import registry
from patchlore.sandbox.base import CommandResult
from patchlore.sandbox.output import KILL_FACTOR, OutputCap
from patchlore.sandbox.snapshot import Snapshot, copy_snapshot
from patchlore.sandbox.snapshot_ops import SnapshotOps, ctl_script

WARNING = (
    "the local sandbox does not isolate: candidate code runs as you, with your network and files"
)


class LocalSandbox(SnapshotOps):
    backend = "local"

    def __init__(
        self, snapshot: Snapshot, *, timeout: float = default_of("command_timeout"),
        output_limit: int = default_of("output_limit"),
        test_time_limit: float = default_of("test_time_limit"),
    ) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="patchlore-sandbox-"))
        registry.track(self)
        self.default_timeout = timeout
        self.test_time_limit = test_time_limit
        self.output_limit = output_limit
        repo = self.base / "repo"
        repo.mkdir()
        (self.base / "scratch").mkdir()
        self.repo_path = str(repo)
        self.scratch_path = str(self.base / "scratch")
        self._ctl_path = self.base / "ctl.sh"
        self._ctl_path.write_bytes(ctl_script())
        self._ctl_env = {"PL_REPO": self.repo_path, "PL_SNAP": str(self.base / "snapshot.git"),
                         "PL_OWNER": "", "PL_CLEAN": "-x", "PL_DIRS": self.scratch_path}
        try:
            copy_snapshot(snapshot, repo)
            self._ctl_ok("init")
        except BaseException:
            self.close()
            raise

    def run(
        self, command: str, timeout: float | None = None, env: dict[str, str] | None = None,
        root: bool = False,  # the local sandbox runs everything as the user who started it
    ) -> CommandResult:
        full_env = {**_host_env(), "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
        return self._spawn(["/bin/sh", "-c", command], command, timeout, full_env)

    def _ctl(self, *args: str, env: dict[str, str] | None = None,
             timeout: float = 300) -> CommandResult:
        env = {**_host_env(), **self._ctl_env, **(env or {})}
        return self._spawn(["/bin/sh", str(self._ctl_path), *args], " ".join(args), timeout, env)

    def _spawn(self, argv, label, timeout, env) -> CommandResult:
        timeout = self.default_timeout if timeout is None else timeout
        start = time.monotonic()
        proc = subprocess.Popen(
            argv, cwd=self.repo_path, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
        caps = {"stdout": OutputCap(self.output_limit), "stderr": OutputCap(self.output_limit)}
        flood = KILL_FACTOR * self.output_limit
        flooded = threading.Event()

        def pump(name: str) -> None:
            stream = getattr(proc, name)
            while chunk := stream.read1(65536):
                caps[name].add(chunk)
                if caps["stdout"].total + caps["stderr"].total > flood:
                    flooded.set()
                    _killpg(proc)
                    return

        readers = [threading.Thread(target=pump, args=(n,), daemon=True) for n in caps]
        for r in readers:
            r.start()
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _killpg(proc)
        finally:
            _killpg(proc)  # background children too, also on Ctrl-C
        for r in readers:
            r.join(5)
        proc.wait()
        note = "\n[patchlore: output limit exceeded, command killed]\n" if flooded.is_set() else ""
        return CommandResult(
            command=label,
            exit_code=None if timed_out else proc.returncode,
            stdout=caps["stdout"].text("stdout"),
            stderr=caps["stderr"].text("stderr") + note,
            duration=time.monotonic() - start,
            timed_out=timed_out,
            truncated=bool(caps["stdout"].cut or caps["stderr"].cut),
        )

    def _inside(self, path: str) -> Path:
        p = Path(path)
        p = p if p.is_absolute() else Path(self.repo_path) / p
        p = p.resolve()
        if not p.is_relative_to(self.base.resolve()):
            raise SandboxError(f"{path} is outside the sandbox")
        return p

    def read_file(self, path: str, limit: int = 50_000_000) -> bytes | None:
        p = self._inside(path)
        if not p.is_file():
            return None
        if p.stat().st_size > limit:
            raise SandboxError(f"{path} in the sandbox is larger than {limit} bytes")
        return p.read_bytes()

    def write_file(self, path: str, data: bytes) -> None:
        p = self._inside(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    def close(self) -> None:
        base, self.base = getattr(self, "base", None), None
        if base is None:
            return
        registry.untrack(self)
        shutil.rmtree(base, ignore_errors=True)

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _host_env() -> dict[str, str]:
    """The environment, without git's variables: run from a git hook they point at the
    user's repository, and a sandboxed command must never touch that."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def _descendants(pid: int) -> list[int]:
    """Processes below `pid` by parent links (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _killpg(proc: subprocess.Popen) -> None:
    """Kill the command's process group and every descendant, including ones that called
    setsid while their parent lived. A daemon that double-forks into a new session escapes:
    that is why this backend does not isolate."""
    for pid in _descendants(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
