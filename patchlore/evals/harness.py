"""How an instance's tests are run and judged: two harnesses behind one interface.

- `JunitHarness` (the default): apply the test patch, run the repo's test runner (pytest with
  JUnit XML, Django's runtests.py, sympy's bin/test, unittest: sandbox/runners/) on the test files
  it touches (SWE-bench's test directives, in the runner's form), and judge by SWE-bench's
  rules with the repair loop's own judge (sandbox/verify.py: PASSED and XFAIL pass; a skipped
  FAIL_TO_PASS test fails; a skipped PASS_TO_PASS test is kept).
- `SwebenchHarness`: for instances that carry SWE-bench's own `eval_script` and `log_parser`
  (SWE-bench 5 datasets put each repo's test command there): run the eval script as SWE-bench's
  harness does, and let the `swebench` package parse the log and decide resolution.

Both take a sandbox with the model patch applied; a test that passes in any run counts as
passed, and one that also failed is flaky.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from patchlore.sandbox.verify import PASSING, judge
from patchlore.errors import PatchloreError
from patchlore.evals.dataset import Instance
from patchlore.sandbox.base import Sandbox
from patchlore.sandbox.runners import detect, for_command
from patchlore.sandbox.runners.base import both_forms
from patchlore.sandbox.testrun import SKIPPED, run_tests

HARNESSES = ("auto", "junit", "swebench")


@dataclass
class Run:
    log: str
    timed_out: bool
    statuses: dict[str, str] = field(default_factory=dict)  # test id -> the harness's word
    invalid: str = ""  # why the log says nothing about the tests, if it does not


@dataclass
class Verdict:
    resolved: bool
    failed_f2p: list[str] = field(default_factory=list)
    failed_p2p: list[str] = field(default_factory=list)
    flaky: list[str] = field(default_factory=list)
    reason: str = ""
    statuses: dict[str, str] = field(default_factory=dict)  # every test the runs reported


class Harness(Protocol):
    name: str
    runner: str  # the test runner it chose, and why ('' for SWE-bench's own eval script)
    why: str

    def prepare(self, box: Sandbox) -> str:
        """Set the tests up after the model patch; why that failed, or ''."""
        ...

    def run(self, box: Sandbox, timeout: float, log_path: Path) -> Run: ...

    def judge(self, runs: list[Run]) -> Verdict: ...


def harness_for(inst: Instance, test_cmd: str, choice: str = "auto",
                runner: str = "auto") -> Harness:
    if choice not in HARNESSES:
        raise PatchloreError(f"unknown harness {choice!r}", hint=" | ".join(HARNESSES))
    carries = bool(inst.extra.get("eval_script") and inst.extra.get("log_parser"))
    if choice == "swebench" or (choice == "auto" and carries):
        return SwebenchHarness(inst)
    return JunitHarness(inst, test_cmd, runner)


def _merge(runs: list[Run], passing: tuple[str, ...]) -> tuple[dict[str, str], list[str]]:
    """One status per test: passing if it passed in any run; and the tests that flipped."""
    merged: dict[str, str] = {}
    seen: dict[str, set[bool]] = {}
    for r in runs:
        for test, status in r.statuses.items():
            ok = status in passing
            seen.setdefault(test, set()).add(ok)
            if ok or test not in merged:
                merged[test] = status
    return merged, sorted(t for t, oks in seen.items() if len(oks) == 2)


def _verdict(f2p: list[str], p2p: list[str], flipped: list[str], wanted: list[str],
             statuses: dict[str, str], resolved: bool | None = None) -> Verdict:
    """Resolved (unless a rule of its own says otherwise) when no FAIL_TO_PASS (f2p) or
    PASS_TO_PASS (p2p) test fails; flaky are the wanted tests that flipped between runs."""
    ok = (not f2p and not p2p) if resolved is None else resolved
    reason = "" if ok else (f"{len(f2p)} FAIL_TO_PASS and {len(p2p)} PASS_TO_PASS test(s) do "
                            "not pass")
    return Verdict(ok, f2p, p2p, [t for t in flipped if t in set(wanted)], reason, statuses)


# SWE-bench's list (swebench.harness.constants.NON_TEST_EXTS), for when swebench is not installed
NON_TEST_EXTS = (".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml",
                 ".toml")


def directives_of(test_patch: str) -> list[str]:
    """The files the test runner is given, by SWE-bench's rule (its `get_test_directives`, which
    swebench 5 no longer ships): every file the test patch touches except data files. Files the
    patch deletes are left out too: the runner would stop on a missing path."""
    try:
        from swebench.harness.constants import NON_TEST_EXTS as exts
    except ImportError:
        exts = NON_TEST_EXTS
    deleted = set(re.findall(r"^--- a/(\S+)\n\+\+\+ /dev/null$", test_patch, re.MULTILINE))
    return [f for f in dict.fromkeys(re.findall(r"^diff --git a/.* b/(.*)$", test_patch,
                                                re.MULTILINE))
            if f not in deleted and not f.endswith(tuple(exts))]


def swebench_names(statuses: dict[str, str]) -> dict[str, str]:
    """`statuses` plus each test under the name SWE-bench's pytest log parser gives it: the id
    up to its first whitespace (`t.py::f[a b]` is `t.py::f[a`), as rows list them. Tests that
    share such a name answer with the worst of their statuses."""
    out = dict(statuses)
    rank = {**dict.fromkeys(PASSING, 0), SKIPPED: 1}  # anything else is worst
    for test, status in statuses.items():
        short = test.split(None, 1)[0] if test.strip() else test
        if short != test and (short not in out or
                              rank.get(status, 2) > rank.get(out[short], 2)):
            out[short] = status
    return out


class JunitHarness:
    name = "junit"

    def __init__(self, inst: Instance, test_cmd: str, runner: str = "auto") -> None:
        self.inst, self.test_cmd, self.choice = inst, test_cmd, runner
        self.cmd, self.runner, self.why = "", "", ""

    def prepare(self, box: Sandbox) -> str:
        # an empty test patch (a practice instance: its tests are the repo's own) applies as
        # nothing and gives no directives, so the runner runs the whole suite
        if self.inst.test_patch.strip():
            applied = box.apply_patch(self.inst.test_patch)
            if not applied.applied:
                return f"test patch does not apply: {applied.reason}"
        files = directives_of(self.inst.test_patch)
        wanted = self.inst.FAIL_TO_PASS + self.inst.PASS_TO_PASS
        # a test command that calls a runner other than pytest is that runner; else the repo's
        # files and the row's names say which (Django's `test_x (app.tests.T)` and sympy's
        # `test_x` are no pytest node ids)
        runner, cmd, self.why = for_command(self.test_cmd), self.test_cmd, "the test command"
        if runner is None or runner.name == "pytest":
            runner, self.why = detect(lambda p: box.read_file(p) is not None, wanted,
                                      self.choice)
            cmd = self.test_cmd if runner.name == "pytest" else runner.command
        self.runner = runner.name
        self.cmd = f"{cmd} {shlex.join(runner.directives(files))}".strip()
        return ""

    def run(self, box: Sandbox, timeout: float, log_path: Path) -> Run:
        result = run_tests(box, self.cmd, timeout=timeout)
        log = result.command.stdout + result.command.stderr
        log_path.write_text(log)
        statuses = {test: o.status for test, o in result.tests.items()}
        # rows name tests as SWE-bench's parsers do, on the Python the row was made with
        return Run(log, result.command.timed_out,
                   swebench_names(statuses) if result.kind == "junit" else both_forms(statuses))

    def judge(self, runs: list[Run]) -> Verdict:
        statuses, flipped = _merge(runs, PASSING)
        f2p, p2p = judge(statuses, self.inst.FAIL_TO_PASS, self.inst.PASS_TO_PASS)
        return _verdict(f2p, p2p, flipped, self.inst.FAIL_TO_PASS + self.inst.PASS_TO_PASS,
                        statuses)


class SwebenchHarness:
    """SWE-bench's eval script, log parsers and resolution rule, from the `swebench` package."""

    name = "swebench"
    runner = why = ""
    SCRIPT = "eval.sh"

    def __init__(self, inst: Instance) -> None:
        try:
            from swebench.harness.log_parsers import PARSER_REGISTRY
            from swebench.harness.utils import make_test_spec
        except ImportError:
            raise PatchloreError(
                f"{inst.instance_id} carries a SWE-bench eval_script: grading it needs the "
                "swebench package", hint="pip install 'patchlore[swebench]', or --harness junit"
            ) from None
        missing = [f for f in ("eval_script", "log_parser") if not inst.extra.get(f)]
        if missing:
            raise PatchloreError(f"{inst.instance_id}: the swebench harness needs the field "
                                 f"{missing[0]!r}", hint="use --harness junit")
        if inst.extra["log_parser"] not in PARSER_REGISTRY:
            raise PatchloreError(f"{inst.instance_id}: swebench has no log parser named "
                                 f"{inst.extra['log_parser']!r}",
                                 hint="upgrade swebench, or fix the row's log_parser")
        self.inst = inst
        row = {"instance_id": inst.instance_id, "repo": inst.repo, "version": inst.version,
               "FAIL_TO_PASS": inst.FAIL_TO_PASS, "PASS_TO_PASS": inst.PASS_TO_PASS,
               "image": inst.extra.get("image", ""), "eval_script": inst.extra["eval_script"],
               "log_parser": inst.extra["log_parser"],
               "eval_type": inst.extra.get("eval_type") or "pass_and_fail",
               "image_assets": inst.extra.get("image_assets")}
        try:
            self.spec = make_test_spec(row)
        except (KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
            raise PatchloreError(f"{inst.instance_id}: swebench cannot read this row "
                                 f"({type(exc).__name__}: {exc})") from None

    def prepare(self, box: Sandbox) -> str:
        # SWE-bench's eval script applies the test patch itself
        box.write_file(f"{box.scratch_path}/{self.SCRIPT}", self.spec.eval_script.encode())
        return ""

    def run(self, box: Sandbox, timeout: float, log_path: Path) -> Run:
        from swebench.harness.constants import TESTS_TIMEOUT
        from swebench.harness.grading import get_logs_eval

        # one stream, as SWE-bench reads it: the markers come from `set -x` on stderr. As root,
        # as SWE-bench runs it: its scripts reinstall the package and generate locales.
        result = box.run(f"/bin/bash {box.scratch_path}/{self.SCRIPT} 2>&1", timeout=timeout,
                         root=True)
        log = result.stdout + result.stderr
        if result.timed_out:
            log += f"\n{TESTS_TIMEOUT} after {timeout:.0f} seconds\n"
        log_path.write_text(log)
        statuses, found = get_logs_eval(self.spec, str(log_path))
        return Run(log, result.timed_out, statuses,
                   "" if found else "swebench found no valid test output in the log")

    def judge(self, runs: list[Run]) -> Verdict:
        from swebench.harness.constants import FAIL_TO_PASS, PASS_TO_PASS, EvalType, \
            ResolvedStatus, TestStatus
        from swebench.harness.grading import get_eval_tests_report, get_resolution_status

        valid = [r for r in runs if not r.invalid]
        if not valid:
            return Verdict(False, list(self.inst.FAIL_TO_PASS), list(self.inst.PASS_TO_PASS),
                           reason=runs[0].invalid)
        statuses, flipped = _merge(valid, (TestStatus.PASSED.value, TestStatus.XFAIL.value))
        report = get_eval_tests_report(
            statuses, {"instance_id": self.inst.instance_id, FAIL_TO_PASS: self.spec.FAIL_TO_PASS,
                       PASS_TO_PASS: self.spec.PASS_TO_PASS},
            eval_type=EvalType(self.spec.eval_type))
        return _verdict(report[FAIL_TO_PASS]["failure"], report[PASS_TO_PASS]["failure"],
                        flipped, self.spec.FAIL_TO_PASS + self.spec.PASS_TO_PASS, statuses,
                        resolved=get_resolution_status(report) == ResolvedStatus.FULL.value)
