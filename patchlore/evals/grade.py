"""Grading predictions the way SWE-bench does, in the sandbox.

Per instance: the repo at its base commit, the model patch, then the test patch, then the tests
that the test patch touches. Resolved = every FAIL_TO_PASS test and every PASS_TO_PASS test
passes (PASSED and XFAIL pass; a skipped FAIL_TO_PASS test fails; a skipped PASS_TO_PASS test
is kept). Failing tests can be rerun to tell flaky from failing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from patchlore.config import Settings
from patchlore.errors import PatchloreError
from patchlore.evals.dataset import Instance
from patchlore.sandbox.factory import open_sandbox
from patchlore.sandbox.testrun import PASSED, SKIPPED, XFAIL, run_tests

RESOLVED, UNRESOLVED, ERROR, EMPTY = "resolved", "unresolved", "error", "empty_patch"


@dataclass
class Grade:
    instance_id: str
    status: str
    reason: str = ""
    failed_f2p: list[str] = field(default_factory=list)
    failed_p2p: list[str] = field(default_factory=list)
    flaky: list[str] = field(default_factory=list)
    seconds: float = 0.0


_clone_lock = threading.Lock()


def mirror_of(repo: str, repos_dir: Path) -> Path:
    """The local mirror of `owner/name` in repos_dir (owner__name), cloned on first use from
    $PATCHLORE_GIT_BASE_URL (default GitHub) when it is not there yet."""
    mirror = repos_dir / repo.replace("/", "__")
    with _clone_lock:  # parallel workers share one clone
        if mirror.is_dir():
            return mirror
        base = os.environ.get("PATCHLORE_GIT_BASE_URL", "https://github.com").rstrip("/")
        repos_dir.mkdir(parents=True, exist_ok=True)
        partial = mirror.with_name(mirror.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            done = subprocess.run(["git", "clone", "-q", "--bare", f"{base}/{repo}.git",
                                   str(partial)], capture_output=True, text=True, timeout=3600)
        except subprocess.TimeoutExpired:
            done = subprocess.CompletedProcess([], 1, "", "timed out after an hour")
        if done.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise PatchloreError(f"{repo}: no mirror in {repos_dir} and cloning {base}/{repo}.git "
                                 f"failed: {done.stderr.strip()[-200:]}",
                                 hint="put a clone there, named owner__name")
        partial.rename(mirror)  # only a complete clone ever carries the mirror's name
    return mirror


def checkout(inst: Instance, repos_dir: Path, dest: Path) -> Path:
    """A working copy of the instance's repo at its base commit, from its mirror."""
    mirror = mirror_of(inst.repo, repos_dir)
    work = dest / "repo"
    for cmd in (["git", "clone", "-q", "--no-checkout", str(mirror), str(work)],
                ["git", "-C", str(work), "checkout", "-q", inst.base_commit]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise PatchloreError(f"{inst.instance_id}: {' '.join(cmd[:3])} failed: "
                                 f"{done.stderr.strip()[:200]}")
    return work


def environment(inst: Instance, settings: Settings, image_template: str = "") -> Settings:
    """The instance's own `image` field, else --image-template, else the settings as they are.
    An image holds the repo already (SWE-bench's at /testbed): nothing is copied in."""
    image = inst.extra.get("image") or ""
    if not image and image_template:
        owner, _, name = inst.repo.partition("/")
        image = image_template.format(
            instance_id=inst.instance_id, owner=owner, name=name,
            id_1776=inst.instance_id.replace("__", "_1776_"))  # SWE-bench's image naming
    if not image:
        return settings
    return dataclasses.replace(settings, image=image, workdir=settings.workdir or "/testbed")


def test_files(test_patch: str) -> list[str]:
    return sorted(set(re.findall(r"^\+\+\+ b/(\S+)", test_patch, re.MULTILINE)))


def passed(status: str | None, f2p: bool) -> bool:
    if status in (PASSED, XFAIL):
        return True
    return status == SKIPPED and not f2p


def grade_instance(inst: Instance, model_patch: str, repos_dir: Path, settings: Settings,
                   log_dir: Path, rerun_flaky: int = 0, image_template: str = "") -> Grade:
    start = time.monotonic()
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "patch.diff").write_text(model_patch)
    if not model_patch.strip():
        return Grade(inst.instance_id, EMPTY, "empty patch")
    with tempfile.TemporaryDirectory(prefix="patchlore-grade-") as tmp:
        try:
            settings = environment(inst, settings, image_template)
            work = "." if settings.workdir else str(checkout(inst, repos_dir, Path(tmp)))
            with open_sandbox(settings, work) as box:
                for name, patch in (("model patch", model_patch), ("test patch", inst.test_patch)):
                    applied = box.apply_patch(patch)
                    if not applied.applied:
                        return _done(Grade(inst.instance_id, ERROR if name == "test patch"
                                           else UNRESOLVED, f"{name} does not apply: "
                                           f"{applied.reason}"), start, log_dir)
                cmd = f"{settings.test_cmd} {shlex.join(test_files(inst.test_patch))}"
                runs = [run_tests(box, cmd, timeout=settings.timeout)]
                (log_dir / "test_output.txt").write_text(runs[0].command.stdout +
                                                         runs[0].command.stderr)
                grade = _judge(inst, runs)
                for _ in range(rerun_flaky):
                    if grade.status == RESOLVED:
                        break
                    runs.append(run_tests(box, cmd, timeout=settings.timeout))
                    grade = _judge(inst, runs)
                if runs[0].command.timed_out and grade.status != RESOLVED:
                    grade.reason = f"tests timed out after {settings.timeout:.0f} s"
        except PatchloreError as exc:
            return _done(Grade(inst.instance_id, ERROR, exc.message), start, log_dir)
    return _done(grade, start, log_dir)


def _judge(inst: Instance, runs: list) -> Grade:
    """A test counts as passed if it passed in any run; those that also failed are flaky."""
    def outcomes(test: str) -> list[str | None]:
        return [r.tests[test].status if test in r.tests else None for r in runs]

    grade = Grade(inst.instance_id, UNRESOLVED)
    for ids, f2p, bad in ((inst.FAIL_TO_PASS, True, grade.failed_f2p),
                          (inst.PASS_TO_PASS, False, grade.failed_p2p)):
        for test in ids:
            results = [passed(s, f2p) for s in outcomes(test)]
            if not any(results):
                bad.append(test)
            elif not all(results):
                grade.flaky.append(test)
    if not grade.failed_f2p and not grade.failed_p2p:
        grade.status = RESOLVED
    else:
        grade.reason = (f"{len(grade.failed_f2p)} FAIL_TO_PASS and {len(grade.failed_p2p)} "
                        "PASS_TO_PASS test(s) do not pass")
    return grade


def _done(grade: Grade, start: float, log_dir: Path) -> Grade:
    grade.seconds = round(time.monotonic() - start, 3)
    (log_dir / "report.json").write_text(json.dumps(asdict(grade), indent=2))
    return grade


def grade_all(instances: list[Instance], predictions: dict[str, str], repos_dir: Path,
              settings: Settings, out_dir: Path, workers: int = 1, rerun_flaky: int = 0,
              progress=lambda grade: None, image_template: str = "") -> dict:
    todo = [i for i in instances if i.instance_id in predictions]

    def one(inst: Instance) -> Grade:
        grade = grade_instance(inst, predictions[inst.instance_id], repos_dir, settings,
                               out_dir / "logs" / inst.instance_id, rerun_flaky,
                               image_template)
        progress(grade)
        return grade

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        grades = list(pool.map(one, todo))
    by = {s: sorted(g.instance_id for g in grades if g.status == s)
          for s in (RESOLVED, UNRESOLVED, ERROR, EMPTY)}
    report = {
        "total_instances": len(instances), "submitted_instances": len(todo),
        "completed_instances": len(by[RESOLVED]) + len(by[UNRESOLVED]),
        "resolved_instances": len(by[RESOLVED]), "unresolved_instances": len(by[UNRESOLVED]),
        "empty_patch_instances": len(by[EMPTY]), "error_instances": len(by[ERROR]),
        "resolved_ids": by[RESOLVED], "unresolved_ids": by[UNRESOLVED],
        "error_ids": by[ERROR], "empty_patch_ids": by[EMPTY],
        "flaky_tests": {g.instance_id: g.flaky for g in grades if g.flaky},
        "schema_version": 2,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    return report
