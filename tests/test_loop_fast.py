"""The repair loop's branches in seconds: replayed answers, the local sandbox, real pytest.

The Docker tests (test_fix.py, test_check.py) run the same loop end to end; these pin down
each branch and the verification contract (sandbox/verify.py) without a container.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from conftest import CALC, make_repo, run_cli
from loopkit import TEST_CMD, edit, run_repair
from stub_llm import StubLLM
from patchlore.sandbox.verify import Status, VerifyOptions, judge, verify, verify_current
from patchlore.evals.dataset import Instance
from patchlore.evals.harness import JunitHarness, Run
from patchlore.sandbox.local_backend import LocalSandbox
from patchlore.sandbox.snapshot import take_snapshot
from patchlore.sandbox.testrun import run_tests

GOOD = edit("calc.py", "    return a - b\n", "    return a + b\n")
BREAKS_MUL = GOOD + edit("calc.py", "    return a * b\n", "    return a ** b\n")
NO_EFFECT = edit("calc.py", "def mul(a, b):\n", "def mul(a, b):  # multiply\n")
EDITS_TEST = edit("test_calc.py", "    assert add(1, 2) == 3\n", "    assert add(1, 2) == -1\n")
WRONG_CONTEXT = "```diff\n--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def plus(a, b):\n-    return a - c\n+    return a + c\n```\n"
GARBAGE = "It is somewhere in the code."


@pytest.fixture
def calc(tmp_path):
    return make_repo(tmp_path / "calc", CALC)


def git_apply_check(repo, patch: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "apply", "--check", "-"], cwd=repo, input=patch, text=True,
                          capture_output=True)


def test_verified_fix_ships_the_sandbox_s_diff(calc, tmp_path):
    ran = run_repair(calc, tmp_path / "w", [[GOOD]])
    assert ran.result.status == "verified", ran.result.message
    assert ran.result.patch.startswith("diff --git a/calc.py b/calc.py")
    assert "+    return a + b" in ran.result.patch
    assert git_apply_check(calc, ran.result.patch).returncode == 0
    (cand,) = ran.result.candidates
    assert cand.status == Status.VERIFIED and cand.reason == "" and cand.lines_changed == 2
    assert [e["status"] for e in ran.kinds("candidate")] == ["verified"]


@pytest.mark.parametrize("answer, status, says", [
    (BREAKS_MUL, Status.BROKE_PASSING, "breaks tests that passed before:\ntest_calc.py::test_mul"),
    (NO_EFFECT, Status.STILL_FAILING, "still failing:\ntest_calc.py::test_add"),
    (EDITS_TEST, Status.TESTS_EDITED, "edits test files (test_calc.py)"),
    (WRONG_CONTEXT, Status.NOT_APPLIED, "the diff does not apply"),
    (GARBAGE, Status.INVALID, "no edits found"),
    (edit("calc.py", "def add(a, b):\n", "import os\nos._exit(3)\n\n\ndef add(a, b):\n"),
     Status.BROKE_PASSING, "the test run reported no outcomes (exit 3)"),
    (edit("calc.py", "    return a / b\n", "    return a + b\n"), Status.INVALID,
     "some edits did not match:\ncalc.py: the SEARCH text is not in the file"),
])
def test_each_rejection_has_its_status_and_reason(calc, tmp_path, answer, status, says):
    ran = run_repair(calc, tmp_path / "w", [[answer]])
    assert ran.result.status == "unverified"
    (cand,) = ran.result.candidates
    assert cand.status == status
    assert says in cand.reason
    assert ran.result.patch == ""


def test_feedback_then_a_verified_fix_in_round_two(calc, tmp_path):
    ran = run_repair(calc, tmp_path / "w", [[BREAKS_MUL], [GOOD]])
    assert ran.result.status == "verified" and ran.result.rounds == 2
    second = ran.kinds("prompt")[1]["messages"][-1]["content"]
    assert "breaks tests that passed before" in second and "test_mul" in second


def test_identical_answers_vote(calc, tmp_path):
    ran = run_repair(calc, tmp_path / "w", [[GOOD, BREAKS_MUL, GOOD]])
    votes = {c.status: c.votes for c in ran.result.candidates}
    assert votes == {Status.VERIFIED: 2, Status.BROKE_PASSING: 1}


def test_green_tests_have_nothing_to_fix(tmp_path):
    repo = make_repo(tmp_path / "green", {"test_ok.py": "def test_ok():\n    assert True\n"})
    ran = run_repair(repo, tmp_path / "w", [[GOOD]])
    assert ran.result.status == "nothing-to-fix" and not ran.kinds("model_reply")


def test_max_calls_stops_before_the_next_round(calc, tmp_path):
    ran = run_repair(calc, tmp_path / "w", [[NO_EFFECT], [GOOD]], max_calls=1)
    assert ran.result.status == "budget" and ran.result.rounds == 1


SKIPPABLE = {
    "calc.py": "FAST = False\n\n\ndef add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n"
               "    return a * b\n",
    "test_calc.py": "import pytest\n\nimport calc\n\n\ndef test_add():\n"
                    "    assert calc.add(1, 2) == 3\n\n\ndef test_mul():\n"
                    "    if calc.FAST:\n        pytest.skip('not in fast mode')\n"
                    "    assert calc.mul(2, 3) == 6\n",
}
FIX_AND_SKIP = edit("calc.py", "FAST = False\n", "FAST = True\n") + GOOD


def test_a_passing_test_that_becomes_skipped_is_kept(tmp_path):
    """SWE-bench's rule: a PASS_TO_PASS test that is skipped after the change does not fail
    it. The loop used to call this 'breaks tests that passed before'."""
    repo = make_repo(tmp_path / "skip", SKIPPABLE)
    ran = run_repair(repo, tmp_path / "w", [[FIX_AND_SKIP]])
    assert ran.result.status == "verified", ran.result.candidates[0].reason
    assert ran.result.candidates[0].counts == {"passed": 1, "skipped": 1}


def test_the_loop_and_the_grading_harness_judge_alike():
    statuses = {"t::f2p_ok": "passed", "t::f2p_skip": "skipped", "t::p2p_skip": "skipped",
                "t::p2p_xfail": "xfailed", "t::p2p_fail": "failed"}
    f2p = ["t::f2p_ok", "t::f2p_skip", "t::f2p_missing"]
    p2p = ["t::p2p_skip", "t::p2p_xfail", "t::p2p_fail", "t::p2p_missing"]
    assert judge(statuses, f2p, p2p) == (["t::f2p_skip", "t::f2p_missing"],
                                         ["t::p2p_fail", "t::p2p_missing"])
    inst = Instance(instance_id="x", repo="o/r", base_commit="0", problem_statement="", patch="", test_patch="",
                    FAIL_TO_PASS=f2p, PASS_TO_PASS=p2p)
    verdict = JunitHarness(inst, "pytest").judge([Run("", False, statuses)])
    assert (verdict.failed_f2p, verdict.failed_p2p) == judge(statuses, f2p, p2p)


FUZZY = ("```diff\n--- a/calc.py\n+++ b/calc.py\n@@ -1,5 +1,5 @@\n def add(a, b):\n"
         "-    return a - b\n+    return a + b\n \n \n def mul(x, y):\n```\n")


def test_a_fuzzy_candidate_ships_a_diff_git_apply_accepts(calc, tmp_path):
    """The answer's diff has a wrong context line: only `patch --fuzz` applies it. What ships
    is the sandbox's own diff, which `git apply` takes on the original tree."""
    raw = FUZZY.split("```diff\n")[1].split("```")[0]
    assert git_apply_check(calc, raw).returncode != 0
    ran = run_repair(calc, tmp_path / "w", [[FUZZY]])
    assert ran.result.status == "verified", ran.result.candidates[0].reason
    assert git_apply_check(calc, ran.result.patch).returncode == 0
    assert "def mul(a, b):" in ran.result.patch or "mul" not in ran.result.patch


REPRO = edit("test_patchlore_repro.py", "", "from calc import add\n\n\ndef test_add():\n"
             "    assert add(1, 2) == 3\n")


def issue_repo(tmp_path, more_tests: str = ""):
    """calc with its bug in add() only reported: test_calc.py tests mul(), and `more_tests`."""
    return make_repo(tmp_path / "issue", dict(CALC, **{
        "test_calc.py": "import os\n\nfrom calc import mul\n\n\ndef test_mul():\n"
                        "    assert mul(2, 3) == 6\n" + more_tests}))


def test_an_issue_gets_a_reproduction_test_that_never_ships(tmp_path):
    repo = issue_repo(tmp_path)
    ran = run_repair(repo, tmp_path / "w", [[REPRO], [GOOD]], task="add() subtracts")
    assert ran.result.status == "verified", ran.result.message
    assert ran.result.failing_before == ["test_patchlore_repro.py::test_add"]
    assert "repro" not in ran.result.patch and "calc.py" in ran.result.patch


def test_an_issue_is_reproduced_even_where_other_tests_fail_already(tmp_path):
    """As in eval run (repro_always): a test that fails for reasons of its own (here: a
    variable the machine lacks) is not the bug. The issue still gets its reproduction test, that
    test is what must pass, the unrelated failure is not, and a candidate that breaks a passing
    test is still rejected by its name."""
    repo = issue_repo(tmp_path, "\n\ndef test_needs_a_service():\n"
                                "    assert os.environ['PATCHLORE_NO_SUCH_SERVICE']\n")
    ran = run_repair(repo, tmp_path / "w", [[REPRO], [BREAKS_MUL], [GOOD]],
                     task="add() subtracts", repro_always=True)
    assert ran.result.status == "verified", ran.result.message
    assert ran.result.failing_before == ["test_patchlore_repro.py::test_add"]
    assert [c.status for c in ran.result.candidates] == [Status.BROKE_PASSING, Status.VERIFIED]
    assert "test_calc.py::test_mul" in ran.result.candidates[0].reason
    assert "repro" not in ran.result.patch and "calc.py" in ran.result.patch


def test_a_reproduction_that_shows_no_bug_costs_no_run_of_the_whole_suite(tmp_path):
    """Run alone first, a reproduction test that passes on the bug is dropped there; only the
    one that fails is checked against the whole suite."""
    repo = issue_repo(tmp_path)
    shows_none, repro = (edit("test_patchlore_repro.py", "", "from calc import add, mul\n\n\n"
                              f"def test_add():\n    assert {check}\n")
                         for check in ("mul(1, 1) == 1", "add(1, 2) == 3"))
    ran = run_repair(repo, tmp_path / "w", [[shows_none, repro], [GOOD, GOOD]],
                     task="add() subtracts")
    assert ran.result.status == "verified", ran.result.message
    runs = ran.kinds("test_run")
    assert [e["phase"] for e in runs][:4] == ["baseline", "reproduction alone",
                                              "reproduction alone", "reproduction"]
    assert [sorted(e["run"]["tests"]) for e in runs[1:3]] == [
        ["test_patchlore_repro.py::test_add"]] * 2  # alone: the test file and nothing else
    assert [e["fails"] for e in ran.kinds("reproduction")] == [
        [], ["test_patchlore_repro.py::test_add"]]


def test_a_test_the_reproduction_run_does_not_report_is_not_broken_by_it(tmp_path):
    """A passing test missing from the reproduction's run (here it is not defined beside the
    reproduction; in Django's logs a line lost to interleaved output) does not reject the
    reproduction, as a broken test would: verify steadies the baseline on it as on any other."""
    repo = issue_repo(tmp_path, "\n\nif not os.path.exists('test_patchlore_repro.py'):\n"
                                "    def test_sometimes():\n        pass\n")
    ran = run_repair(repo, tmp_path / "w", [[REPRO], [GOOD]], task="add() subtracts")
    assert ran.result.status == "verified", ran.result.message
    (shown,) = ran.kinds("reproduction")
    assert shown["others_ok"] and shown["fails"] == ["test_patchlore_repro.py::test_add"]
    assert "test_calc.py::test_sometimes" not in ran.kinds("test_run")[2]["run"]["tests"]


def test_names_only_the_reproduction_s_run_reports_are_not_kept_as_passing(tmp_path):
    """The reproduction adds its own tests to the baseline and nothing else: a name only its
    run reports (here a test that exists while the reproduction fails; in Django's log a line
    cut by another process's output) would be gone once fixed and seem broken by every fix."""
    repo = issue_repo(tmp_path, "\n\nfrom calc import add\n\n"
                                "if os.path.exists('test_patchlore_repro.py') and add(1, 2) != 3:\n"
                                "    def test_ghost():\n        pass\n")
    ran = run_repair(repo, tmp_path / "w", [[REPRO], [GOOD]], task="add() subtracts")
    assert ran.result.status == "verified", ran.result.candidates[0].reason
    assert "test_calc.py::test_ghost" in ran.kinds("test_run")[2]["run"]["tests"]


def test_a_repair_reads_the_repo_s_state_for_its_index_once(tmp_path, monkeypatch):
    """An issue is localized twice (for its reproduction test, then for the fix): both use
    the index the repair holds, not a module-level cache looked up by the repo's state."""
    from patchlore.localize import index as ix

    repo = make_repo(tmp_path / "issue", dict(CALC, **{"test_calc.py": "def test_no():\n"
                                                                         "    pass\n"}))
    states, real = [], ix.state
    monkeypatch.setattr(ix, "state", lambda root, files: states.append(root) or real(root, files))
    ran = run_repair(repo, tmp_path / "w", [[REPRO], [GOOD]], task="add() subtracts")
    assert ran.result.status == "verified", ran.result.message
    assert ran.kinds("localize") and ran.kinds("reproduction")  # two localizations
    assert states == [repo], states


HANGS = edit("calc.py", "    return a - b\n", "    while True:\n        pass\n")


def test_the_deadline_stops_a_running_test_command(calc, tmp_path):
    """A candidate whose tests hang: the run ends at its deadline, not at the 120 s test
    timeout (the candidate's reason says which). The deadline leaves the baseline test run
    time on a loaded machine (it took 4.5 s of a 5 s one there, and no candidate was tried)."""
    ran = run_repair(calc, tmp_path / "w", [[HANGS]], test_timeout=120,
                     deadline=time.monotonic() + 30)
    assert ran.result.status == "budget"
    (cand,) = ran.result.candidates
    assert cand.status == Status.TIMED_OUT and "deadline" in cand.reason


def test_verify_the_box_as_it_is(calc):
    """The entry point for a candidate made inside the sandbox (a shell session)."""
    snap = take_snapshot(calc)
    with LocalSandbox(snap, timeout=60) as box:
        baseline = run_tests(box, TEST_CMD)
        box.write_file(f"{box.repo_path}/calc.py",
                       CALC["calc.py"].replace("a - b", "a + b").encode())
        verdict = verify_current(box, baseline, ["test_calc.py::test_add"],
                                 VerifyOptions(TEST_CMD))
        assert verdict.verified and "+    return a + b" in verdict.patch
        # verify() starts from the snapshot: the box's own edit is gone
        again = verify(box, NO_EFFECT_DIFF, baseline, ["test_calc.py::test_add"],
                       VerifyOptions(TEST_CMD))
        assert again.status == Status.STILL_FAILING and "a + b" not in again.patch
        assert again.patch == box.diff()  # read in the apply call, as a diff call reads it


NO_EFFECT_DIFF = ("--- a/calc.py\n+++ b/calc.py\n@@ -4,2 +4,2 @@\n \n-def mul(a, b):\n"
                  "+def mul(a, b):  # multiply\n")


def test_fix_timeout_stops_a_hanging_suite(tmp_path):
    """`fix --timeout 5` on a suite that hangs: the run ends at 5 s, not at the 120 s test
    timeout, with exit 1 and the reason (which the test timeout would not give; run_cli's own
    120 s limit fails a run that waited for it)."""
    repo = make_repo(tmp_path / "hang", {"test_hang.py": "import time\n\n\ndef test_hang():\n"
                                                         "    time.sleep(600)\n"})
    replay = tmp_path / "replay.jsonl"
    replay.write_text('{"kind": "model_reply", "texts": ["none"]}\n')
    res = run_cli("fix", "--repo", str(repo), "--sandbox", "local", "--model", f"replay:{replay}",
                  "--test-cmd", TEST_CMD, "--timeout", "5",
                  env={"PATCHLORE_MEMORY_MODE": "off", "PATCHLORE_TIMEOUT": "120"})
    assert res.returncode == 1, res.stderr
    assert "stopped at --timeout (the tests did not finish)" in res.stderr



@pytest.mark.parametrize("agent", ["pipeline", "explore"])
def test_fix_timeout_cuts_a_model_request_in_flight(tmp_path, agent):
    """A model server that never answers in time: `fix --timeout 30` ends at 30 s as out of
    budget (exit 1), not after the request's own 600 s timeout (run_cli's 120 s limit fails a
    run that waits for it), and not as a model error (exit 2). 30 s, not 6: the baseline test
    run before the request took 4.5 s of a 6 s deadline on a loaded machine."""
    repo = make_repo(tmp_path / "calc", CALC)
    with StubLLM([[GOOD]]) as stub:
        stub.delay = 600
        stub.server.block_on_close = False  # the slow answer is not waited for at the end
        res = run_cli("fix", "--repo", str(repo), "--sandbox", "local", "--model",
                      "hosted_vllm/stub-coder", "--api-base", stub.api_base, "--agent", agent,
                      "--test-cmd", TEST_CMD, "--timeout", "30", "--samples", "1",
                      env={"PATCHLORE_MEMORY_MODE": "off"})
    assert res.returncode == 1, res.stderr
    assert "stopped at --timeout (the model had not answered)" in res.stderr, res.stderr


def test_a_change_to_a_binary_file_ships_whole(calc):
    """A candidate made in the box (an exploration) may write binary files: the patch carries
    them in full, so `git apply` takes it on the original tree."""
    snap = take_snapshot(calc)
    with LocalSandbox(snap, timeout=60) as box:
        baseline = run_tests(box, TEST_CMD)
        box.write_file(f"{box.repo_path}/calc.py",
                       CALC["calc.py"].replace("a - b", "a + b").encode())
        box.write_file(f"{box.repo_path}/table.bin", bytes(range(256)) * 4)
        verdict = verify_current(box, baseline, ["test_calc.py::test_add"],
                                 VerifyOptions(TEST_CMD))
    assert verdict.verified and "GIT binary patch" in verdict.patch
    assert git_apply_check(calc, verdict.patch).returncode == 0


def test_a_diff_larger_than_the_output_limit_ships_uncut(calc):
    """Command output is cut to the sandbox's limit; the patch never is."""
    snap = take_snapshot(calc)
    big = "".join(f"ROW_{i} = {i}\n" for i in range(2000))  # ~25 KB of diff
    with LocalSandbox(snap, timeout=60, output_limit=4000) as box:
        baseline = run_tests(box, TEST_CMD)
        box.write_file(f"{box.repo_path}/calc.py",
                       (CALC["calc.py"].replace("a - b", "a + b") + big).encode())
        verdict = verify_current(box, baseline, ["test_calc.py::test_add"],
                                 VerifyOptions(TEST_CMD))
        # the same as a candidate diff: the apply call's own copy of the diff is cut too
        again = verify(box, verdict.patch, baseline, ["test_calc.py::test_add"],
                       VerifyOptions(TEST_CMD))
        assert again.patch == verdict.patch
    assert verdict.verified and "patchlore cut" not in verdict.patch
    assert "+ROW_0 = 0" in verdict.patch and "+ROW_1999 = 1999" in verdict.patch
    assert git_apply_check(calc, verdict.patch).returncode == 0


def test_an_issue_in_a_repo_without_tests_starts_from_the_reproduction(tmp_path):
    """pytest collects nothing (exit 5): bad input without an issue, but with one the
    reproduction test becomes the first test."""
    repo = make_repo(tmp_path / "bare", {"calc.py": CALC["calc.py"]})
    ran = run_repair(repo, tmp_path / "w", [[REPRO], [GOOD]], task="add() subtracts")
    assert ran.result.status == "verified", ran.result.message
    assert ran.result.failing_before == ["test_patchlore_repro.py::test_add"]
