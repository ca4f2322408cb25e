"""Reset, diff and patch application, shared by every backend through `ctl.sh`.

A backend supplies `_ctl(*args)` (run ctl.sh with the snapshot environment), `write_file` and
`_restart()`; this mixin turns them into the Sandbox protocol's snapshot operations.
"""

from __future__ import annotations

import re
import uuid
from importlib import resources

from patchlore.errors import SandboxError
from patchlore.sandbox.base import ApplyResult, CommandResult
from patchlore.sandbox.patchpaths import escaping_paths

# ctl.sh's names for the SWE-bench harness's fallbacks (git's 3-way merge before --reject)
APPLY_METHODS = {
    "git-apply": "git apply",
    "git-apply-3way": "git apply --3way",
    "git-apply-reject": "git apply --reject",
    "patch-fuzz": "patch --fuzz=5",
}
STUCK = 3  # ctl.sh reset: processes survived kill -9 (a fork bomb at the pid limit)
# Patches up to this size travel in the environment of the apply call itself: one round trip
# fewer per candidate (Linux caps one environment string at 128 KiB).
INLINE_PATCH = 100_000


def ctl_script() -> bytes:
    return resources.files("patchlore.sandbox").joinpath("ctl.sh").read_bytes()


def _why(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return "failed"
    errors = [ln for ln in lines if "error" in ln.lower() or "fail" in ln.lower()]
    return (errors or lines)[-1][:300]


def parse_apply_report(stdout: str, cut: bool = False) -> ApplyResult:
    """ctl.sh apply prints `@@ METHOD RC` and that attempt's output, per attempt; after a
    success, `@@ diff` and the tree's diff (not kept if the output was `cut`)."""
    report, *rest = re.split(r"(?m)^@@ diff\n", stdout, maxsplit=1)
    attempts: list[tuple[str, str, str]] = []
    for line in report.splitlines():
        if line.startswith("@@ ") and len(line.split()) == 3 and line.split()[1] in APPLY_METHODS:
            _, method, rc = line.split()
            attempts.append((APPLY_METHODS[method], rc, ""))
        elif attempts:
            m, rc, text = attempts[-1]
            attempts[-1] = (m, rc, text + line + "\n")
    failed = [(m, _why(text)) for m, rc, text in attempts if rc != "0"]
    worked = [m for m, rc, _ in attempts if rc == "0"]
    return ApplyResult(applied=bool(worked), method=worked[0] if worked else None,
                       attempts=failed, diff=rest[0] if rest and worked and not cut else None)


class SnapshotOps:
    scratch_path: str

    def _ctl(self, *args: str, env: dict[str, str] | None = None,
             timeout: float = 300) -> CommandResult:
        raise NotImplementedError

    def write_file(self, path: str, data: bytes) -> None:
        raise NotImplementedError

    def _restart(self) -> None:
        raise SandboxError("sandbox processes could not be stopped")

    def _ctl_ok(self, *args: str) -> str:
        result = self._ctl(*args)
        if not result.ok:
            why = _why(result.stderr or result.stdout or f"exit {result.exit_code}")
            raise SandboxError(f"sandbox snapshot step `{' '.join(args)}` failed: {why}")
        return result.stdout

    def reset(self) -> None:
        if self._ctl("reset").exit_code == STUCK:
            self._restart()
        self._ctl_ok("reset")

    def diff(self) -> str:
        result = self._ctl("diff")
        if result.ok and not result.truncated:
            return result.stdout
        # larger than the output limit (or failed): through a file, never cut
        path = f"{self.scratch_path}/diff-{uuid.uuid4().hex}.diff"
        self._ctl_ok("diff", path)
        return (self.read_file(path) or b"").decode("utf-8", "surrogateescape")

    def apply_patch(self, patch: str, reset: bool = False) -> ApplyResult:
        # paths outside the repo are refused before anything touches the tree: `patch -p1`
        # would bring them inside
        outside = escaping_paths(patch)
        refused = (("path check", f"writes outside the repo: {', '.join(outside[:3])}")
                   if outside else ("-", "empty patch") if not patch.strip() else None)
        if refused:
            if reset:
                self.reset()
            return ApplyResult(applied=False, method=None, attempts=[refused])
        if not patch.endswith("\n"):
            patch += "\n"  # a patch cut at its last line is a common model slip
        args, env = ["apply", "-"], {"PL_PATCH": patch}
        if len(patch.encode()) > INLINE_PATCH or "\0" in patch:
            args[1] = f"{self.scratch_path}/patch-{uuid.uuid4().hex}.diff"
            self.write_file(args[1], patch.encode())
            env = {}
        if reset:
            args.append("reset")
        result = self._ctl(*args, env=env)
        if result.exit_code == STUCK:
            self._restart()
            result = self._ctl(*args, env=env)
        report = parse_apply_report(result.stdout, cut=result.truncated)
        if not report.applied and not report.attempts:
            raise SandboxError(f"patch application broke: {_why(result.stderr)}")
        return report
