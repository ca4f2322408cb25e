"""What "verified" means, in one place.

A candidate is applied to the sandbox from its snapshot; the sandbox's own `git diff` is then
the candidate's patch (the one that is shipped: `--apply`, `check --fix`, predictions), whatever
route got it there (`git apply`, 3-way, `patch --fuzz`, a shell session in the box); then the
tests run and `judge` applies SWE-bench's rule. The repair loop and the junit grading harness
judge with the same function.

    verdict = verify(box, diff, baseline, failing, opts)   # a diff: reset, apply, test
    verdict = verify_current(box, baseline, failing, opts) # the box's tree as it is now

"Passed before" means passed in two runs of the unchanged code: a test whose id is made of the
time or a random value is named differently by every run, so it is missing from every
candidate's run. When a candidate's only broken tests are missing ones, the baseline is run once
more and judged again on the tests both runs report alike (`steady`); a test that truly
vanished (a module that no longer imports) is in both runs and still counts as broken.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from patchlore.sandbox.base import Sandbox
from patchlore.sandbox.patchpaths import touched_paths
from patchlore.sandbox.testrun import ERROR, FAILED, PASSED, SKIPPED, XFAIL, TestRun, run_tests

TEST_FILE = re.compile(r"(^|/)(tests?/|testing/|test_[^/]*\.py$|[^/]*_test\.py$|conftest\.py$)")
PASSING = (PASSED, XFAIL)
# one more run of the unchanged code per baseline, however many boxes verify at once
_STEADYING = threading.Lock()


class Status(str, Enum):
    PROPOSED = "proposed"  # not verified yet
    VERIFIED = "verified"
    INVALID = "invalid"  # no usable change: nothing parsed, edits that do not match, no-op
    NOT_APPLIED = "not-applied"  # the diff does not apply (or names paths outside the repo)
    TESTS_EDITED = "tests-edited"
    TIMED_OUT = "timed-out"  # the test run hit its timeout, or the run's deadline
    STILL_FAILING = "still-failing"
    BROKE_PASSING = "broke-passing"


@dataclass
class VerifyOptions:
    test_cmd: str
    test_timeout: float | None = None
    deadline: float | None = None  # time.monotonic() after which no test command may run
    allow_test_edits: bool = False
    # applied on top of the candidate for the test run only, never part of its patch (the
    # reproduction test written for an issue)
    extra: str = ""


@dataclass
class Verdict:
    status: Status
    reason: str = ""
    patch: str = ""  # the sandbox's own diff: what ships
    failed_f2p: list[str] = field(default_factory=list)
    failed_p2p: list[str] = field(default_factory=list)
    run: TestRun | None = None

    @property
    def verified(self) -> bool:
        return self.status == Status.VERIFIED


def judge(statuses: Mapping[str, str], f2p: Iterable[str],
          p2p: Iterable[str]) -> tuple[list[str], list[str]]:
    """The FAIL_TO_PASS and PASS_TO_PASS tests that fail, by SWE-bench's rule: PASSED and XFAIL
    pass; a skipped FAIL_TO_PASS test fails (it shows nothing fixed); a PASS_TO_PASS test that
    is skipped now is kept, as SWE-bench's grading.py keeps it; a missing test fails."""
    return ([t for t in f2p if statuses.get(t) not in PASSING],
            [t for t in p2p if statuses.get(t) not in (*PASSING, SKIPPED)])


def failing_tests(run: TestRun) -> list[str]:
    """What fails in a run: its failing tests, or the command itself when it has no per-test
    outcomes (then the command must exit 0)."""
    if run.per_test:
        return run.ids(FAILED, ERROR)
    return [] if run.passed else [f"`{run.command.command}` (exit {run.command.exit_code})"]


def failure_map(run: TestRun, failing: list[str]) -> dict[str, str]:
    """Each failing test's message (the command's output tail when the run has no per-test
    outcomes): what a failure signature is made of."""
    if run.per_test:
        return {t: run.tests[t].message for t in failing if t in run.tests}
    return {t: (run.command.stdout + run.command.stderr)[-3000:] for t in failing}


def tests_touched(patch: str) -> list[str]:
    return [p for p in touched_paths(patch) if TEST_FILE.search(p)]


def time_left(opts: VerifyOptions) -> float | None:
    """The timeout for the next test command: the test timeout, cut to the deadline."""
    if opts.deadline is None:
        return opts.test_timeout
    left = opts.deadline - time.monotonic()
    return left if opts.test_timeout is None else min(left, opts.test_timeout)


def verify(box: Sandbox, diff: str, baseline: TestRun, failing: list[str],
           opts: VerifyOptions) -> Verdict:
    """Apply `diff` to the snapshot (reset first) and verify the result."""
    if not diff.strip():
        return Verdict(Status.INVALID, "the edits change nothing")
    applied = box.apply_patch(diff, reset=True)
    if not applied.applied:
        return Verdict(Status.NOT_APPLIED, f"the diff does not apply: {applied.reason}")
    patch = box.diff() if applied.diff is None else applied.diff
    return _verify_tree(box, patch, baseline, failing, opts)


def verify_current(box: Sandbox, baseline: TestRun, failing: list[str],
                   opts: VerifyOptions) -> Verdict:
    """Verify the sandbox's tree as it is now (a candidate made in the box itself): its diff
    from the snapshot is the patch. `failing` are the tests that must now pass; every test
    that passed in `baseline` must keep passing."""
    return _verify_tree(box, box.diff(), baseline, failing, opts)


def _verify_tree(box: Sandbox, patch: str, baseline: TestRun, failing: list[str],
                 opts: VerifyOptions) -> Verdict:
    """`patch` is the box's diff from the snapshot, as it is now."""
    if not patch.strip():
        return Verdict(Status.INVALID, "the edits change nothing")
    tests = tests_touched(patch)
    if tests and not opts.allow_test_edits:
        return Verdict(Status.TESTS_EDITED, f"edits test files ({', '.join(tests)}): fix the "
                       "code, not the tests", patch)
    if opts.extra:
        applied = box.apply_patch(opts.extra)
        if not applied.applied:
            return Verdict(Status.NOT_APPLIED, "the reproduction test does not apply on top of "
                           f"it: {applied.reason}", patch)
    timeout = time_left(opts)
    if timeout is not None and timeout <= 0:
        return Verdict(Status.TIMED_OUT, "not tested: the run's deadline has passed", patch)
    run = run_tests(box, opts.test_cmd, timeout=timeout)
    if run.command.timed_out:
        why = ("stopped at the run's deadline" if timeout != opts.test_timeout
               else "the tests timed out")
        return Verdict(Status.TIMED_OUT, f"{why} after {run.command.duration:.0f} s", patch,
                       run=run)
    verdict = _judged(run, baseline, failing, patch)
    if not baseline.steadied and _only_vanished(verdict):
        _run_baseline_again(box, baseline, patch, opts)
        verdict = _judged(run, baseline, failing, patch)
    return verdict


def steady(baseline: TestRun, again: TestRun) -> None:
    """Keep in `baseline` only the tests a second run of the same code reports as it did: an
    id made of the time or a random value names another test in every run, and a test that
    passed once but not twice is flaky; no candidate can be judged on either."""
    if not again.command.timed_out and again.per_test:  # a cut run says nothing of the rest
        baseline.tests = {k: t for k, t in baseline.tests.items() if k in again.tests
                          and (not t.passed or again.tests[k].passed)}
    baseline.steadied = True


def _only_vanished(verdict: Verdict) -> bool:
    """Whether every test the verdict calls broken is one its run did not report at all."""
    return (verdict.status == Status.BROKE_PASSING and verdict.run is not None
            and all(t not in verdict.run.tests for t in verdict.failed_p2p))


def _run_baseline_again(box: Sandbox, baseline: TestRun, patch: str,
                        opts: VerifyOptions) -> None:
    """The unchanged code's tests once more in `box`, to steady the baseline; the box holds
    the candidate's tree again after."""
    with _STEADYING:
        timeout = time_left(opts)
        if baseline.steadied or (timeout is not None and timeout <= 0):
            return
        box.reset()
        try:
            if opts.extra:
                box.apply_patch(opts.extra)
            steady(baseline, run_tests(box, opts.test_cmd, timeout=timeout))
        finally:
            box.apply_patch(patch, reset=True)
            if opts.extra:
                box.apply_patch(opts.extra)


def _judged(run: TestRun, baseline: TestRun, failing: list[str], patch: str) -> Verdict:
    if not baseline.per_test:
        if run.passed:
            return Verdict(Status.VERIFIED, "", patch, run=run)
        return Verdict(Status.STILL_FAILING, f"the test command still fails:\n{_tail(run)}",
                       patch, failed_f2p=list(failing), run=run)
    kept = baseline.ids(*PASSING)
    still, broken = judge(run.statuses, failing, kept)
    parts = []
    if broken:
        parts.append("breaks tests that passed before:\n" + _outcomes(run, broken, 800))
    if still:
        parts.append("still failing:\n" + _outcomes(run, still, 1200))
    if (broken or still) and not run.per_test:  # the run died before reporting: say how
        parts.append(f"the test run reported no outcomes (exit {run.command.exit_code}):\n"
                     + _tail(run))
    status = (Status.BROKE_PASSING if broken else Status.STILL_FAILING if still
              else Status.VERIFIED)
    return Verdict(status, "\n".join(parts), patch, still, broken, run)


def _tail(run: TestRun, chars: int = 1500) -> str:
    return (run.command.stdout + run.command.stderr)[-chars:]


def _outcomes(run: TestRun, ids: list[str], chars: int) -> str:
    return "\n".join(f"{t}\n{run.tests[t].message[-chars:]}" if t in run.tests
                     else f"{t} (missing)" for t in ids[:5])
