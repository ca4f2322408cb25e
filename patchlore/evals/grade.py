"""Grading predictions the way SWE-bench does, in the sandbox.

Per instance: the repo at its base commit (or the instance's image), the model patch, then the
harness (evals/harness.py) sets up and runs the tests and judges them. Resolved = every
FAIL_TO_PASS test and every PASS_TO_PASS test passes. Failing tests can be rerun to tell flaky
from failing.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from patchlore.config import Settings
from patchlore.errors import PatchloreError
from patchlore.evals.batch import Batch, scratch
from patchlore.evals.dataset import Instance
from patchlore.evals.environment import environment
from patchlore.evals.harness import harness_for
from patchlore.evals.repos import checkout
from patchlore.sandbox.factory import open_sandbox

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
    harness: str = ""
    runner: str = ""  # the test runner the junit harness chose (sandbox/runners), and why
    runner_why: str = ""
    key: str = ""  # what was graded (see grading_key): a rerun keeps a grade with the same key


@dataclass
class GradeOptions:
    workers: int = 1
    rerun_flaky: int = 0
    harness: str = "auto"  # auto | junit | swebench (see evals/harness.py)
    image_template: str = ""


# settings that do not change how an instance is graded (the model's and the repair's)
_NOT_GRADING = {"model", "api_base", "memory_dir", "memory_url", "memory_mode", "sources",
                "agent", "localize", "samples", "rounds", "max_steps", "deadline",
                "context_budget"}


def grading_key(inst: Instance, model_patch: str, settings: Settings,
                opts: GradeOptions) -> str:
    """A digest of everything a grade depends on: the patch, the dataset row, the options."""
    what = {"patch": model_patch, "row": asdict(inst),
            "settings": {k: v for k, v in asdict(settings).items() if k not in _NOT_GRADING},
            "harness": opts.harness, "rerun_flaky": opts.rerun_flaky,
            "image_template": opts.image_template}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def earlier_grade(log_dir: Path, key: str) -> Grade | None:
    """The grade a previous run left in log_dir for the same key; errors are graded again."""
    try:
        data = json.loads((log_dir / "report.json").read_text())
        grade = Grade(**data)
    except (OSError, ValueError, TypeError):
        return None
    return grade if grade.key == key and grade.status != ERROR else None


def grade_instance(inst: Instance, model_patch: str, repos_dir: Path, settings: Settings,
                   log_dir: Path, opts: GradeOptions, key: str = "") -> Grade:
    start = time.monotonic()
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "patch.diff").write_text(model_patch)
    if not model_patch.strip():
        return _done(Grade(inst.instance_id, EMPTY, "empty patch", key=key), start, log_dir)
    with scratch("grade") as tmp:
        try:
            harness = harness_for(inst, settings.test_cmd, opts.harness, settings.runner)
            settings = environment(inst, settings, opts.image_template)
            if harness.name == "swebench" and not settings.workdir:
                raise PatchloreError(
                    f"{inst.instance_id}: SWE-bench's eval_script runs in the instance's own "
                    "image", hint="give rows an `image` field or --image-template, or use "
                    "--harness junit")
            work = "." if settings.workdir else str(checkout(inst, repos_dir, tmp))
            with open_sandbox(settings, work, name=inst.repo, setup_required=True) as box:
                applied = box.apply_patch(model_patch)
                if not applied.applied:
                    return _done(Grade(inst.instance_id, UNRESOLVED, "model patch does not "
                                       f"apply: {applied.reason}", key=key), start, log_dir)
                why = harness.prepare(box)
                if why:
                    return _done(Grade(inst.instance_id, ERROR, why), start, log_dir)
                log = log_dir / "test_output.txt"
                runs = [harness.run(box, settings.command_timeout, log)]
                verdict = harness.judge(runs)
                for k in range(opts.rerun_flaky):
                    if verdict.resolved:
                        break
                    runs.append(harness.run(box, settings.command_timeout,
                                            log.with_name(f"test_output.rerun{k + 1}.txt")))
                    verdict = harness.judge(runs)
                # every test's status, not only the row's: what the runs can tell about the
                # row itself (benchmarks/validate_instances.py reads it)
                (log_dir / "tests.json").write_text(json.dumps(verdict.statuses, indent=1,
                                                               sort_keys=True))
        except PatchloreError as exc:
            # one line that says what failed and what to do (where the log is)
            reason = exc.message + (f" ({exc.hint})" if exc.hint else "")
            return _done(Grade(inst.instance_id, ERROR, reason), start, log_dir)
        except Exception as exc:  # the engine's own failure ends this instance, not the batch
            from patchlore.sandbox.docker_backend import engine_error

            why = engine_error(exc)
            if not why:
                raise
            return _done(Grade(inst.instance_id, ERROR, f"{why} (grade into the same --output "
                               "again to retry the instances in error)"), start, log_dir)
    grade = Grade(inst.instance_id, RESOLVED if verdict.resolved else UNRESOLVED,
                  verdict.reason, verdict.failed_f2p, verdict.failed_p2p, verdict.flaky,
                  harness=harness.name, runner=harness.runner, runner_why=harness.why,
                  key=key)
    if runs[0].timed_out and not verdict.resolved:
        grade.reason = f"tests timed out after {settings.command_timeout:.0f} s"
    return _done(grade, start, log_dir)


def _done(grade: Grade, start: float, log_dir: Path) -> Grade:
    grade.seconds = round(time.monotonic() - start, 3)
    return grade


def _record(grade: Grade, log_dir: Path) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    tmp = log_dir / "report.json.tmp"  # whole or not at all: a rerun reads it to resume
    tmp.write_text(json.dumps(asdict(grade), indent=2))
    os.replace(tmp, log_dir / "report.json")


def grade_all(instances: list[Instance], predictions: dict[str, str], repos_dir: Path,
              settings: Settings, out_dir: Path, opts: GradeOptions | None = None,
              progress=lambda grade: None, invalid: dict[str, str] | None = None,
              note=lambda message: None) -> dict:
    """Grade every instance that has a prediction; `invalid` predictions (id: why) are errors.
    Grades left in out_dir by an earlier run for the same patch, row and options are kept."""
    opts, invalid = opts or GradeOptions(), invalid or {}
    todo = [i for i in instances if i.instance_id in predictions or i.instance_id in invalid]
    keys = {i.instance_id: grading_key(i, predictions[i.instance_id], settings, opts)
            for i in todo if i.instance_id not in invalid}
    kept = {}
    for iid, key in keys.items():
        grade = earlier_grade(out_dir / "logs" / iid, key)
        if grade:
            kept[iid] = grade
    if kept:
        note(f"{len(kept)} instance(s) already graded in {out_dir} with the same patch, row "
             "and options: kept (grade into another --output to grade them again)")

    def one(inst: Instance) -> Grade:
        iid, log_dir = inst.instance_id, out_dir / "logs" / inst.instance_id
        if iid in kept:
            return kept[iid]
        if iid in invalid:
            grade = _done(Grade(iid, ERROR, invalid[iid]), time.monotonic(), log_dir)
        else:
            grade = grade_instance(inst, predictions[iid], repos_dir, settings, log_dir, opts,
                                   keys[iid])
        if not batch.stopping.is_set():  # interrupted: it may come from a removed sandbox
            _record(grade, log_dir)
            progress(grade)
        return grade

    batch = Batch()
    grades = batch.each(one, todo, opts.workers)
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
