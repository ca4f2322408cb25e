"""The Sandbox protocol and the plain data it returns. Everything else talks to sandboxes through it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol, runtime_checkable

SANDBOX_LABEL = "patchlore.sandbox"


@dataclass
class CommandResult:
    command: str
    exit_code: int | None  # None when killed at the timeout
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False
    truncated: bool = False  # stdout/stderr were cut to the output limit (a note says where)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ApplyResult:
    applied: bool
    method: str | None  # the command that worked, e.g. "git apply --3way"
    attempts: list[tuple[str, str]] = field(default_factory=list)  # (method, why it failed)
    diff: str | None = None  # the tree's diff from the snapshot once applied (None: not read)

    @property
    def reason(self) -> str:
        if self.applied:
            return f"applied with {self.method}"
        return "; ".join(f"{m}: {why}" for m, why in self.attempts) or "empty patch"


@runtime_checkable
class Sandbox(Protocol):
    """A disposable copy of a repo snapshot in which untrusted code and tests run.

    `reset()` returns the repo to the snapshot it started from; `diff()` is the change since then.
    """

    backend: str
    repo_path: str  # the repo's path inside the sandbox
    test_time_limit: float  # seconds one pytest test may run (pytest-timeout); 0: no limit

    def run(
        self, command: str, timeout: float | None = None, env: dict[str, str] | None = None,
        root: bool = False,
    ) -> CommandResult:
        """Run as the sandbox's unprivileged user, or with `root` as the image's root (for
        scripts written for it, like SWE-bench's eval scripts); still without network."""
        ...

    def apply_patch(self, patch: str, reset: bool = False) -> ApplyResult:
        """Apply a unified diff (with `reset`, to the snapshot: one step per candidate)."""
        ...

    def diff(self) -> str: ...

    def reset(self) -> None: ...

    def read_file(self, path: str, limit: int = 50_000_000) -> bytes | None: ...

    def write_file(self, path: str, data: bytes) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Sandbox: ...

    def __exit__(self, *exc: object) -> None: ...
