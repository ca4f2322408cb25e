"""`patchlore fix` end to end: real litellm over HTTP to a scripted server, real sandboxes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_repo, run_cli, tree_digest
from stub_llm import StubLLM

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "pricing"
MODEL = "hosted_vllm/stub-coder"

GOOD = """The discount is added instead of subtracted.

cart.py
<<<<<<< SEARCH
    return round(amount * (1 + percent / 100), 2)
=======
    return round(amount * (1 - percent / 100), 2)
>>>>>>> REPLACE
"""
BREAKS_SUBTOTAL = GOOD + """
cart.py
<<<<<<< SEARCH
    return sum(price * qty for price, qty in lines)
=======
    return sum(price for price, qty in lines)
>>>>>>> REPLACE
"""
DELETES_TESTS = """Those tests are wrong.

test_cart.py
<<<<<<< SEARCH
def test_discount_reduces_price():
    assert apply_discount(200.0, 10) == 180.0


def test_total_with_discount():
    assert total([(50.0, 2)], 25) == 75.0
=======
>>>>>>> REPLACE
"""
NO_MATCH = """cart.py
<<<<<<< SEARCH
    return amount + percent
=======
    return amount - percent
>>>>>>> REPLACE
"""
GARBAGE = "I think the problem is somewhere in the code. Good luck!"


@pytest.fixture
def repo(tmp_path):
    files = {p.name: p.read_text() for p in EXAMPLE.iterdir() if p.is_file()}
    return make_repo(tmp_path / "pricing", files)


def fix(repo, stub, *args, env=None):
    return run_cli("fix", "--repo", str(repo), "--model", MODEL, "--api-base", stub.api_base,
                   *args, env={"PATCHLORE_TEST_CMD": "python3 -m pytest -q -p no:cacheprovider",
                               "PATCHLORE_MEMORY_MODE": "off", **(env or {})}, timeout=300)


def host_tests_pass(repo) -> bool:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=repo, capture_output=True).returncode == 0


def test_verified_fix_applied_in_docker(repo, docker_ready):
    with StubLLM([[GARBAGE, BREAKS_SUBTOTAL, GOOD, GOOD, DELETES_TESTS]]) as stub:
        res = fix(repo, stub, "--samples", "5", "--apply", "--sandbox", "docker", "--json",
                  env={"PATCHLORE_MEMORY_MODE": "online"})
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "verified" and out["applied"]
    assert sorted(out["failing_before"]) == ["test_cart.py::test_discount_reduces_price",
                                             "test_cart.py::test_total_with_discount"]
    assert "1 - percent / 100" in out["patch"]
    cands = {c["answer"]: c for c in out["candidates"]}
    assert len(cands) == 4  # the two identical answers are one candidate with two votes
    assert cands[GOOD]["verified"] and cands[GOOD]["votes"] == 2
    assert "no edits found" in cands[GARBAGE]["reason"]
    assert "breaks tests that passed before" in cands[BREAKS_SUBTOTAL]["reason"]
    assert "test_cart.py::test_subtotal" in cands[BREAKS_SUBTOTAL]["reason"]
    assert "edits test files" in cands[DELETES_TESTS]["reason"]
    assert host_tests_pass(repo)
    run_dir = Path(out["run_dir"])
    assert (run_dir / "backup" / "cart.py").read_text() == (EXAMPLE / "cart.py").read_text()
    assert stub.requests[0]["n"] == 5
    assert len(stub.requests) == 2 and "general lessons" in stub.requests[1]["messages"][0][
        "content"]  # the learn step's distillation request
    # the record is readable
    shown = run_cli("runs", "show", out["run_id"], "--repo", str(repo))
    assert shown.returncode == 0 and "VERIFIED" in shown.stdout


def test_without_apply_the_tree_is_untouched_and_output_written(repo, tmp_path):
    before = tree_digest(repo)
    with StubLLM([[GOOD]]) as stub:
        res = fix(repo, stub, "--samples", "1", "--sandbox", "local",
                  "--output", str(tmp_path / "fix.diff"))
    assert res.returncode == 0, res.stderr
    assert "+    return round(amount * (1 - percent / 100), 2)" in res.stdout  # the diff
    assert "verified" in res.stderr and "unpriced" in res.stderr
    assert (tmp_path / "fix.diff").read_text().startswith("diff --git a/cart.py b/cart.py")
    after = tree_digest(repo)
    assert {k: v for k, v in after.items() if not k.startswith(".patchlore")} == before


def test_feedback_round_shows_why_candidates_failed(repo):
    before = tree_digest(repo)
    with StubLLM([[BREAKS_SUBTOTAL, NO_MATCH], [DELETES_TESTS, GARBAGE]]) as stub:
        res = fix(repo, stub, "--samples", "2", "--rounds", "2", "--sandbox", "local",
                  "--allow-test-edits")
        requests = stub.requests
    assert res.returncode == 1, res.stderr
    assert "no verified fix in 2 round(s)" in res.stderr
    assert len(requests) == 2
    # round 2 extends round 1's prompt: same prefix, then the answer and the feedback
    assert requests[1]["messages"][:2] == requests[0]["messages"]
    feedback = requests[1]["messages"][-1]["content"]
    assert "breaks tests that passed before" in feedback and "test_subtotal" in feedback
    assert "SEARCH text is not in the file" in feedback
    after = {k: v for k, v in tree_digest(repo).items() if not k.startswith(".patchlore")}
    assert after == before


def test_deleting_the_failing_tests_is_never_a_fix(repo):
    with StubLLM([[DELETES_TESTS]]) as stub:
        res = fix(repo, stub, "--samples", "1", "--rounds", "1", "--sandbox", "local",
                  "--allow-test-edits", "--json")
    out = json.loads(res.stdout)
    assert res.returncode == 1 and out["status"] == "unverified"
    assert "still failing" in out["candidates"][0]["reason"]
    assert "(missing)" in out["candidates"][0]["reason"]


def test_garbage_answers_end_cleanly(repo):
    with StubLLM([[GARBAGE], ["```python\nprint(1)\n```"]]) as stub:
        res = fix(repo, stub, "--samples", "1", "--rounds", "2", "--sandbox", "local")
    assert res.returncode == 1
    assert "Traceback" not in res.stderr and "no edits found" in res.stderr


def test_server_down_is_a_clear_error(repo):
    before = tree_digest(repo)
    res = run_cli("fix", "--repo", str(repo), "--model", MODEL, "--api-base",
                  "http://127.0.0.1:9/v1", "--sandbox", "local", timeout=300)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "not reachable" in lines[0] and "Traceback" not in res.stderr
    assert {k: v for k, v in tree_digest(repo).items() if not k.startswith(".patchlore")} \
        == before


def test_nothing_to_fix_on_green_tests(tmp_path):
    repo = make_repo(tmp_path / "green", {"test_ok.py": "def test_ok():\n    assert True\n"})
    with StubLLM([]) as stub:
        res = fix(repo, stub, "--sandbox", "local")
        assert stub.requests == []
    assert res.returncode == 0 and "nothing to fix" in res.stderr


def test_replay_reproduces_a_run(repo):
    with StubLLM([[NO_MATCH], [GOOD]]) as stub:
        first = fix(repo, stub, "--samples", "1", "--sandbox", "local", "--json")
    run_dir = json.loads(first.stdout)["run_dir"]
    again = run_cli("fix", "--repo", str(repo), "--model", f"replay:{run_dir}", "--samples", "1",
                    "--sandbox", "local", "--json",
                    env={"PATCHLORE_TEST_CMD": "python3 -m pytest -q -p no:cacheprovider"})
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["patch"] == json.loads(first.stdout)["patch"]
    assert json.loads(again.stdout)["rounds"] == 2


def test_budget_stops_the_run(repo):
    with StubLLM([[NO_MATCH], [GOOD]]) as stub:
        res = fix(repo, stub, "--samples", "1", "--rounds", "3", "--max-calls", "1",
                  "--sandbox", "local", "--json")
        assert len(stub.requests) == 1
    out = json.loads(res.stdout)
    assert res.returncode == 1 and out["status"] == "budget" and "--max-calls" in out["message"]


REPRO_BAD = """test_patchlore_repro.py
<<<<<<< SEARCH
=======
def test_passes_already():
    assert True
>>>>>>> REPLACE
"""
REPRO_GOOD = """test_patchlore_repro.py
<<<<<<< SEARCH
=======
from cart import total


def test_quarter_off():
    assert total([(40.0, 1)], 25) == 30.0
>>>>>>> REPLACE
"""


def test_issue_only_writes_a_reproduction_test_first(tmp_path):
    files = {p.name: p.read_text() for p in EXAMPLE.iterdir() if p.is_file()}
    # the discount tests are not there yet: the suite is green, the bug only reported
    files["test_cart.py"] = files["test_cart.py"].split("def test_discount_reduces_price")[0]
    repo = make_repo(tmp_path / "issue", files)
    with StubLLM([[REPRO_BAD, REPRO_GOOD], [GOOD]]) as stub:
        res = fix(repo, stub, "--samples", "2", "--sandbox", "local", "--json",
                  "--issue", "total() with a 25% discount charges more, not less")
        requests = stub.requests
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "verified"
    assert out["failing_before"] == ["test_patchlore_repro.py::test_quarter_off"]
    assert "test_patchlore_repro" not in out["patch"] and "cart.py" in out["patch"]
    assert "reproduce the bug" in requests[0]["messages"][-1]["content"]
    assert "25% discount" in requests[1]["messages"][-1]["content"]
    assert "def test_quarter_off" in requests[1]["messages"][-1]["content"]


def test_issue_without_a_failing_reproduction_is_not_a_fix(repo, tmp_path):
    files = {p.name: p.read_text() for p in EXAMPLE.iterdir() if p.is_file()}
    files["test_cart.py"] = files["test_cart.py"].split("def test_discount_reduces_price")[0]
    green = make_repo(tmp_path / "green", files)
    with StubLLM([[REPRO_BAD]]) as stub:
        res = fix(green, stub, "--samples", "1", "--sandbox", "local",
                  "--issue", "discounts are wrong")
        assert len(stub.requests) == 1
    assert res.returncode == 1 and "could not write a reproduction test" in res.stderr


# a test whose id is made of the time: every run of the suite names it differently
CLOCK_TEST = """import time

import pytest

from cart import subtotal


@pytest.mark.parametrize("stamp", [time.time_ns()])
def test_subtotal_at(stamp):
    assert subtotal([(1.0, 2)]) == 2.0
"""
DROPS_SUBTOTAL = GOOD + """
cart.py
<<<<<<< SEARCH
def subtotal(lines: list[tuple[float, int]]) -> float:
    return sum(price * qty for price, qty in lines)
=======
>>>>>>> REPLACE
"""


@pytest.mark.parametrize("answer, verified", [(GOOD, True), (DROPS_SUBTOTAL, False)],
                         ids=["the-fix", "breaks-the-imports"])
def test_a_test_renamed_by_every_run_is_no_broken_test(tmp_path, docker_ready, answer,
                                                        verified):
    """The fix is verified although the candidate's run lacks the baseline's clock-named test
    (a second run of the unchanged code shows that id is not stable); a candidate that breaks
    every test module's import still breaks the tests that did not vanish on their own."""
    files = {p.name: p.read_text() for p in EXAMPLE.iterdir() if p.is_file()}
    repo = make_repo(tmp_path / "clock", {**files, "test_clock.py": CLOCK_TEST})
    with StubLLM([[answer]]) as stub:
        res = fix(repo, stub, "--samples", "1", "--rounds", "1", "--sandbox", "docker",
                  "--json")
    out = json.loads(res.stdout)
    assert (res.returncode == 0) == verified, res.stderr
    assert out["status"] == ("verified" if verified else "unverified"), out
    if not verified:
        reason = out["candidates"][0]["reason"]
        assert "breaks tests that passed before" in reason
        assert "test_cart.py::test_subtotal (missing)" in reason
