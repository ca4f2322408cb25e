"""Reset, diff and patch application, shared by every backend through `ctl.sh`.

A backend supplies `_ctl(args, input_path)` (run ctl.sh with the snapshot environment) and
`write_file`; this mixin turns them into the Sandbox protocol's snapshot operations.
"""

from __future__ import annotations

import uuid
from importlib import resources

from patchlore.errors import SandboxError
from patchlore.sandbox.base import ApplyResult, CommandResult

# The SWE-bench harness's fallbacks, in its order, with git's 3-way merge before --reject.
APPLY_METHODS = {
    "git-apply": "git apply",
    "git-apply-3way": "git apply --3way",
    "git-apply-reject": "git apply --reject",
    "patch-fuzz": "patch --fuzz=5",
}


def ctl_script() -> bytes:
    return resources.files("patchlore.sandbox").joinpath("ctl.sh").read_bytes()


def _why(result: CommandResult) -> str:
    text = (result.stderr.strip() or result.stdout.strip() or f"exit {result.exit_code}")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower() or "fail" in ln.lower()]
    return (errors or lines)[-1][:300]


class SnapshotOps:
    scratch_path: str

    def _ctl(self, *args: str) -> CommandResult:
        raise NotImplementedError

    def write_file(self, path: str, data: bytes) -> None:
        raise NotImplementedError

    def _before_reset(self) -> None:
        """Stop processes a previous command left behind; recreate the sandbox's own dirs."""

    def _ctl_ok(self, *args: str) -> str:
        result = self._ctl(*args)
        if not result.ok:
            raise SandboxError(f"sandbox snapshot step `{' '.join(args)}` failed: {_why(result)}")
        return result.stdout

    def reset(self) -> None:
        self._before_reset()
        self._ctl_ok("reset")

    def diff(self) -> str:
        return self._ctl_ok("diff")

    def apply_patch(self, patch: str) -> ApplyResult:
        if not patch.strip():
            return ApplyResult(applied=False, method=None, attempts=[("-", "empty patch")])
        if not patch.endswith("\n"):
            patch += "\n"  # a patch cut at its last line is a common model slip
        path = f"{self.scratch_path}/patch-{uuid.uuid4().hex}.diff"
        self.write_file(path, patch.encode())
        tree = self._ctl_ok("save").strip()
        attempts: list[tuple[str, str]] = []
        for method, label in APPLY_METHODS.items():
            result = self._ctl("apply", method, path)
            if result.ok:
                return ApplyResult(applied=True, method=label, attempts=attempts)
            attempts.append((label, _why(result)))
            self._ctl_ok("restore", tree)
        return ApplyResult(applied=False, method=None, attempts=attempts)
