"""`patchlore practice` end to end: real Docker, real chromadb on disk, the real CLI; with a
model, real litellm over HTTP to the scripted server."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from conftest import UNPRIVILEGED, make_repo, run_cli, tree_digest
from stub_llm import StubLLM

TEST_CMD = "python3 -m pytest -q"

SHAPES = {
    "shapes.py": (
        '"""A small project: helpers and their tests."""\n\n\n'
        "def clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    if x > hi:\n"
        "        return hi\n    return x\n\n\n"
        "def area(w, h):\n    return w * h\n\n\n"
        "def count_up(n):\n    i = 0\n    while i < n:\n        i = i + 1\n    return i\n\n\n"
        "def untested(a, b):\n    return a - b\n"),
    "test_shapes.py": (
        "from shapes import area, clamp, count_up\n\n\n"
        "def test_clamp():\n    assert clamp(5, 0, 3) == 3\n    assert clamp(-1, 0, 3) == 0\n"
        "    assert clamp(2, 0, 3) == 2\n\n\n"
        "def test_area():\n    assert area(2, 3) == 6\n\n\n"
        "def test_count_up():\n    assert count_up(3) == 3\n"),
}
# one function, one test: each of add's 4 mutants is caught
ADD = {"calc.py": "def add(a, b):\n    return a + b\n",
       "test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"}


def practice(repo, *args, timeout=900, env=None, prefix=()):
    return run_cli("practice", "--repo", str(repo), "--test-cmd", TEST_CMD, "--no-setup",
                   "--sandbox", "docker", *args, timeout=timeout,
                   env={"COLUMNS": "200", **(env or {})}, prefix=prefix)


def instances_of(repo) -> list[dict]:
    path = repo / ".patchlore" / "practice" / "instances.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def git_status(repo) -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=repo,
                          capture_output=True, text=True, check=True).stdout


def outside_patchlore(digest: dict) -> dict:
    return {k: v for k, v in digest.items() if not k.startswith(".patchlore")}


@pytest.mark.timeout(1500)
@pytest.mark.usefixtures("docker_ready")
def test_practice_keeps_caught_mutants_as_instances_that_grade(tmp_path):
    repo = make_repo(tmp_path / "shapes", SHAPES)
    # an old commit with a version tag: the instances' commits keep both (an environment
    # build bounds dependencies by that date and pretends that version)
    old = {**os.environ, "GIT_COMMITTER_DATE": "2019-08-01T12:00:00+00:00",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for args in (["commit", "-q", "--amend", "--no-edit", "--date", old["GIT_COMMITTER_DATE"]],
                 ["tag", "v1.2.3"]):
        subprocess.run(["git", *args], cwd=repo, env=old, check=True, capture_output=True)
    before = tree_digest(repo)
    res = practice(repo, "--max-mutants", "12", "--mutant-timeout", "20", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert {k: type(v) for k, v in out.items()} == {
        "tried": int, "caught": int, "kept": int, "stored": int, "instances": str,
        "uncaught": list}
    assert all(set(u) == {"path", "function"} for u in out["uncaught"])
    assert out["kept"] >= 6 and out["stored"] == out["kept"] and out["tried"] > out["kept"]
    assert {"path": "shapes.py", "function": "untested"} in out["uncaught"]
    assert {"path": "shapes.py", "function": "area"} not in out["uncaught"]
    assert outside_patchlore(tree_digest(repo)) == outside_patchlore(before)
    assert git_status(repo) == ""  # .patchlore/ ignores itself: git sees nothing new

    rows = [json.loads(line) for line in open(out["instances"])]
    assert len(rows) == out["kept"]
    # the one mutant that makes count_up loop forever (i = i - 1) was dropped at its timeout
    assert not any("i = i - 1" in r["patch"] and "+        i = i + 1" in r["patch"]
                   for r in rows)
    for r in rows:
        assert r["FAIL_TO_PASS"] and r["repo"].startswith(str(repo))
        at = ["git", "-C", r["repo"]]
        assert subprocess.run([*at, "log", "-1", "--format=%cs", r["base_commit"]],
                              capture_output=True, text=True).stdout.strip() == "2019-08-01"
        assert subprocess.run([*at, "describe", "--tags", "--abbrev=0", r["base_commit"]],
                              capture_output=True, text=True).stdout.strip() == "v1.2.3"
        assert len(re.findall(r"^[-+][^-+]", r["patch"], re.MULTILINE)) == 2  # one line each

    for preds, resolved in (("gold", len(rows)), ("empty", 0)):
        graded = run_cli("eval", "grade", "--dataset", out["instances"], "--predictions",
                         preds, "--test-cmd", TEST_CMD, "--no-setup", "--workers", "2",
                         "--output", str(tmp_path / preds), timeout=900)
        report = json.loads((tmp_path / preds / "report.json").read_text())
        assert report["resolved_instances"] == resolved, graded.stderr
        assert report["error_instances"] == 0, graded.stderr

    # the store says where episodes came from; a rerun at the same content tries nothing
    stats = json.loads(run_cli("memory", "stats", "--json").stdout)
    assert stats["episodes_by_source"] == {"practice": out["kept"]}
    listed = json.loads(run_cli("memory", "list", "--json").stdout)
    assert {r["source"] for r in listed} == {"practice"}
    again = json.loads(practice(repo, "--max-mutants", "40", "--json").stdout)
    assert again["tried"] == 0 and again["kept"] == 0
    # a function whose content changed is practised again, and only that one
    (repo / "shapes.py").write_text(SHAPES["shapes.py"].replace("return w * h", "return h * w"))
    changed = json.loads(practice(repo, "--max-mutants", "40", "--json").stdout)
    assert changed["tried"] >= 2 and changed["kept"] >= 1
    fresh = [r for r in instances_of(repo) if r["base_commit"] not in
             {old["base_commit"] for old in rows}]
    assert len(fresh) == changed["kept"] and {r["practice"]["function"] for r in fresh} == \
        {"area"}
    (repo / "shapes.py").write_text(SHAPES["shapes.py"])
    gone = run_cli("memory", "forget", "--source", "practice")
    kept = out["kept"] + changed["kept"]
    assert gone.returncode == 0 and f"forgot {kept} episode(s)" in gone.stderr
    assert json.loads(run_cli("memory", "stats", "--json").stdout)["episodes"] == 0
    assert outside_patchlore(tree_digest(repo)) == outside_patchlore(before)


@pytest.mark.timeout(900)
def test_a_hanging_mutant_is_dropped_within_its_timeout(tmp_path, docker_ready):
    loop = {"loop.py": "def count_up(n):\n    i = 0\n    while i < n:\n        i = i + 1\n"
                       "    return i\n",
            "test_loop.py": "from loop import count_up\n\n\n"
                            "def test_count_up():\n    assert count_up(3) == 3\n"}
    repo = make_repo(tmp_path / "loop", loop)
    res = practice(repo, "--max-mutants", "40", "--mutant-timeout", "20")
    assert res.returncode == 0, res.stderr
    rows = instances_of(repo)
    bodies = [r["patch"] for r in rows]
    assert len(rows) >= 3
    assert not any("-        i = i - 1" in b for b in bodies)  # the hang is not an instance
    dropped = res.stdout[res.stdout.index("mutants dropped"):]
    assert re.search(r"loop\.py .*count_up .*the tests timed out after \d+ s", dropped), \
        res.stdout


@pytest.mark.timeout(900)
def test_only_functions_the_passing_tests_run_are_mutated(tmp_path, docker_ready):
    """add is run by a passing test (each of its 4 mutants is caught), mul only by a failing
    one, sub by none: their 8 mutants are never tried, and both are named as unprotected."""
    calc = {"calc.py": "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n"
                       "    return a - b\n\n\ndef mul(a, b):\n    return a * b\n",
            "test_calc.py": "from calc import add, mul\n\n\ndef test_add():\n"
                            "    assert add(1, 2) == 3\n\n\ndef test_mul_is_wrong():\n"
                            "    assert mul(2, 2) == 5\n"}
    repo = make_repo(tmp_path / "calc", calc)
    res = practice(repo, "--max-mutants", "100", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["tried"] == out["caught"] == out["kept"] == 4, out
    assert sorted(u["function"] for u in out["uncaught"]) == ["mul", "sub"]
    rows = [json.loads(line) for line in open(out["instances"])]
    assert {r["practice"]["function"] for r in rows} == {"add"}
    shown = practice(repo, "--max-mutants", "100")  # the table says why
    assert "no passing test runs it" in shown.stdout and "sub" in shown.stdout


def _fix_reply(good: bool):
    """A model that reads the mutated `return` off the prompt and replaces it."""
    def answer(body: dict):
        prompt = "\n".join(str(m.get("content", "")) for m in body["messages"])
        found = re.search(r"^    return (.+)$", prompt, re.MULTILINE)
        if not found:
            return ["nothing to say"]
        right = "b + a" if good else "a * b"  # a right fix of its own, not the inverse
        return [f"calc.py\n<<<<<<< SEARCH\n    return {found.group(1)}\n=======\n"
                f"    return {right}\n>>>>>>> REPLACE\n"]
    return answer


@pytest.mark.timeout(900)
@pytest.mark.parametrize("good", [True, False])
def test_blind_repair_is_stored_only_when_it_verifies(tmp_path, docker_ready, good):
    calc = {"calc.py": "def add(a, b):\n    return a + b\n",
            "test_calc.py": "from calc import add\n\n\ndef test_add():\n"
                            "    assert add(1, 2) == 3\n    assert add(2, 2) == 4\n"}
    repo = make_repo(tmp_path / "calc", calc)
    with StubLLM(_fix_reply(good)) as stub:
        res = practice(repo, "--max-mutants", "1", "--model", "hosted_vllm/stub-coder",
                       "--api-base", stub.api_base, "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["kept"] == 1 and out["stored"] == 1
    (row,) = [json.loads(line) for line in open(out["instances"])]
    episodes = [r for r in json.loads(run_cli("memory", "list", "--json",
                                              "--kind", "episodes").stdout)]
    assert len(episodes) == 1 and episodes[0]["source"] == "practice"
    shown = json.loads(run_cli("memory", "show", episodes[0]["id"], "--json").stdout)
    assert shown["outcome"] == "verified"
    if good:  # its own repair is the episode, not the mutant's inverse
        assert "+    return b + a" in shown["diff"]
    else:  # it failed: the known fix is stored, never the model's wrong one
        assert "+    return a * b" not in shown["diff"]
        assert shown["diff"].strip() and "+    return a + b" in shown["diff"]
    assert row["patch"].count("+    return a + b") == 1


@pytest.mark.timeout(900)
def test_a_test_named_after_the_time_does_not_drop_every_mutant(tmp_path, docker_ready):
    """test_add_at's id is the time: every run names it differently. Judged on it, each
    mutant's run lacks a baseline test (as marshmallow's test_invalid_datetime_deserialization
    made practice keep 0 of 23): now it is set aside, add's 4 mutants are kept, and their
    instances (which do not list it) grade."""
    calc = {**ADD, "test_clock.py": "import time\n\nimport pytest\n\nfrom calc import add\n\n\n"
                                    "@pytest.mark.parametrize('stamp', [time.time_ns()])\n"
                                    "def test_add_at(stamp):\n"
                                    "    assert add(stamp, 0) == stamp\n"}
    repo = make_repo(tmp_path / "calc", calc)
    res = practice(repo, "--max-mutants", "100", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["tried"] == out["caught"] == out["kept"] == 4, out
    assert "1 test(s) set aside" in res.stderr
    rows = instances_of(repo)
    assert all(r["FAIL_TO_PASS"] + r["PASS_TO_PASS"] and not any(
        "test_add_at" in t for t in r["FAIL_TO_PASS"] + r["PASS_TO_PASS"]) for r in rows)
    run_cli("eval", "grade", "--dataset", out["instances"], "--predictions", "gold",
            "--test-cmd", TEST_CMD, "--no-setup", "--output", str(tmp_path / "gold"),
            timeout=900)
    report = json.loads((tmp_path / "gold" / "report.json").read_text())
    assert report["resolved_instances"] == 4, report


@pytest.mark.timeout(900)
def test_practice_on_a_read_only_checkout_writes_nothing_there(tmp_path, docker_ready):
    """A checkout nobody may write (as CI mounts some): practice runs, the tree stays as it
    was, and its records (instances, the practice repository, state) go to the state dir."""
    repo = make_repo(tmp_path / "calc", ADD)
    for p in [repo, *repo.rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)
    before = tree_digest(repo)
    state = tmp_path / "state"
    res = practice(repo, "--max-mutants", "2", "--json", env={"XDG_STATE_HOME": str(state)},
                   prefix=UNPRIVILEGED)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["kept"] == 2, out
    assert "cannot be written" in res.stderr and str(state) in res.stderr
    assert out["instances"].startswith(str(state / "patchlore" / "repos"))
    rows = [json.loads(line) for line in open(out["instances"])]
    assert len(rows) == 2 and all(r["repo"].startswith(str(state)) for r in rows)
    assert tree_digest(repo) == before and not (repo / ".patchlore").exists()


@pytest.mark.timeout(900)
def test_a_mutant_cut_by_the_budget_is_not_tried_nor_practised(tmp_path, docker_ready):
    """Every mutant of f makes test_f spin forever, and no per-mutant or per-test limit
    stops it before --budget: the first mutant's run is cut at the budget. It is not counted
    as tried, f is not remembered as practised (a rerun would skip a function never tested),
    and the report says the budget stopped the run. (A machine too slow to reach a mutant
    within the budget stops before it: the same outcome.)"""
    files = {"inc.py": "def f(x):\n    return x + 1\n",
             "test_inc.py": "from inc import f\n\n\ndef test_f():\n    while f(1) != 2:\n"
                            "        pass\n"}
    repo = make_repo(tmp_path / "inc", files)
    res = practice(repo, "--max-mutants", "3", "--mutant-timeout", "3600", "--budget", "120",
                   "--json", env={"PATCHLORE_TEST_TIME_LIMIT": "0"})
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["tried"] == out["caught"] == out["kept"] == 0, out
    assert "stopped at --budget (120 s): 3 mutant(s) chosen were not tried" in res.stderr
    state = json.loads((repo / ".patchlore" / "practice" / "state.json").read_text())
    assert "inc.py::f" not in state
