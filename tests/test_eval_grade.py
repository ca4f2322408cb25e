"""Grading SWE-bench-format predictions on the minibench, in real sandboxes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import git, make_repo, make_testbed_image, remove_images, run_cli
from patchlore.evals.dataset import load_dataset, load_predictions
from patchlore.evals.grade import GradeOptions, grade_all

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT / "examples" / "minibench" / "minibench.jsonl"


def test_mirrors_rebuild_the_dataset_s_base_commits(mirrors):
    instances, problems = load_dataset(DATASET)
    assert len(instances) >= 12 and not problems
    for inst in instances:
        head = subprocess.run(["git", "-C", str(mirrors / inst.repo.replace("/", "__")),
                               "rev-parse", "HEAD"], capture_output=True, text=True).stdout
        assert head.strip() == inst.base_commit, inst.instance_id
        assert inst.FAIL_TO_PASS and inst.PASS_TO_PASS


@pytest.mark.parametrize("backend", ["docker", "local"])
def test_gold_resolves_all_and_empty_none(mirrors, tmp_path, settings, backend, request):
    if backend == "docker":
        request.getfixturevalue("docker_ready")
    settings.sandbox = backend
    instances, _ = load_dataset(DATASET)
    gold = grade_all(instances, load_predictions("gold", instances), mirrors, settings,
                     tmp_path / "gold", GradeOptions(workers=2))
    assert gold["resolved_instances"] == len(instances) == gold["submitted_instances"]
    assert gold["error_ids"] == [] and gold["unresolved_ids"] == []
    empty = grade_all(instances, load_predictions("empty", instances), mirrors, settings,
                      tmp_path / "empty")
    assert empty["resolved_ids"] == [] and len(empty["empty_patch_ids"]) == len(instances)
    report = json.loads((tmp_path / "gold" / "report.json").read_text())
    assert report["resolved_ids"] == sorted(i.instance_id for i in instances)
    log = tmp_path / "gold" / "logs" / instances[0].instance_id
    assert (log / "patch.diff").read_text() == instances[0].patch
    assert "passed" in (log / "test_output.txt").read_text()
    # every test the run reported, with its status: the row's and the others in its files
    statuses = json.loads((log / "tests.json").read_text())
    wanted = instances[0].FAIL_TO_PASS + instances[0].PASS_TO_PASS
    assert {statuses[t] for t in wanted} == {"passed"}, statuses


def test_wrong_and_unappliable_predictions(mirrors, tmp_path, settings):
    settings.sandbox = "local"
    instances, _ = load_dataset(DATASET)
    by_id = {i.instance_id: i for i in instances}
    median = by_id["patchlore__median-1"]
    preds = [
        # "fixes" the even case by breaking the odd one: a PASS_TO_PASS test fails
        {"instance_id": median.instance_id, "model_name_or_path": "m",
         "model_patch": median.patch.replace("return ordered[mid]\n", "return 0\n")},
        {"instance_id": "patchlore__roman-1", "model_name_or_path": "m",
         "model_patch": "--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-a\n+b\n"},
    ]
    path = tmp_path / "preds.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in preds))
    report = grade_all(instances, load_predictions(str(path), instances), mirrors, settings,
                       tmp_path / "out")
    assert report["unresolved_ids"] == ["patchlore__median-1", "patchlore__roman-1"]
    median_report = json.loads((tmp_path / "out" / "logs" / "patchlore__median-1" /
                                "report.json").read_text())
    assert median_report["failed_p2p"] == ["test_stats.py::test_odd_length"]
    roman = json.loads((tmp_path / "out" / "logs" / "patchlore__roman-1" /
                        "report.json").read_text())
    assert "does not apply" in roman["reason"]


def test_prediction_formats(tmp_path):
    instances, _ = load_dataset(DATASET)
    one = {"instance_id": instances[0].instance_id, "model_name_or_path": "m",
           "model_patch": "P"}
    (tmp_path / "a.json").write_text(json.dumps([one]))
    (tmp_path / "b.json").write_text(json.dumps({one["instance_id"]: one}))
    (tmp_path / "c.jsonl").write_text(json.dumps(one) + "\n")
    for name in ("a.json", "b.json", "c.jsonl"):
        assert load_predictions(str(tmp_path / name), instances) == {one["instance_id"]: "P"}


def test_malformed_rows_are_named_and_skipped(tmp_path):
    rows = DATASET.read_text().splitlines()
    bad = json.loads(rows[1])
    del bad["base_commit"]
    worse = json.loads(rows[2])
    worse["FAIL_TO_PASS"] = "not json"
    (tmp_path / "d.jsonl").write_text("\n".join([rows[0], json.dumps(bad), json.dumps(worse),
                                                 "{broken", rows[3]]) + "\n")
    instances, problems = load_dataset(tmp_path / "d.jsonl")
    assert len(instances) == 2
    assert problems[0] == f"d.jsonl row 2 ({bad['instance_id']}): missing field 'base_commit'"
    assert "row 3" in problems[1] and "row 4" in problems[2] and "not JSON" in problems[2]


def test_cli_grade(mirrors, tmp_path):
    res = run_cli("eval", "grade", "--dataset", str(DATASET), "--predictions", "gold",
                  "--repos-dir", str(mirrors), "--output", str(tmp_path / "o"), "--sandbox",
                  "local", "--json", "--workers", "2", timeout=600)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["resolved_instances"] >= 12
    missing = run_cli("eval", "grade", "--dataset", str(tmp_path / "none.jsonl"),
                      "--predictions", "gold", "--repos-dir", str(mirrors))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_an_engine_that_does_not_answer_in_time_is_an_error_not_the_end(mirrors, tmp_path,
                                                                        docker_ready):
    """A Docker call that times out (an engine overloaded by other runs) makes its instance
    an error with one line that says so; the grade goes on and writes its report. The engine
    is made slow for certain (tests/slow_engine.py): a 1 ms client timeout against the real
    engine need not fire on a fast quiet machine."""
    from slow_engine import SlowEngine

    out = tmp_path / "o"
    with SlowEngine() as slow_host:
        res = run_cli("eval", "grade", "--dataset", str(DATASET), "--predictions", "gold",
                      "--repos-dir", str(mirrors), "--output", str(out), "--sandbox", "docker",
                      "--json", "--instances", "patchlore__chunks-1", timeout=300,
                      env={"DOCKER_HOST": slow_host, "PATCHLORE_DOCKER_TIMEOUT": "1"})
    assert res.returncode == 1, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["error_ids"] == ["patchlore__chunks-1"]
    grade = json.loads((out / "logs" / "patchlore__chunks-1" / "report.json").read_text())
    assert grade["reason"].startswith("the Docker engine failed: ReadTimeout"), grade


@pytest.mark.parametrize("backend", ["docker", "local"])
def test_an_instance_without_a_test_patch_runs_the_repo_s_own_suite(tmp_path, settings,
                                                                    backend, request):
    """A practice instance: the tests are already in the repo, the test patch is empty, the
    repo is named by its path. The runner runs the whole suite (it ran an empty command: the
    log was empty and gold unresolved)."""
    from patchlore.evals.dataset import Instance

    if backend == "docker":
        request.getfixturevalue("docker_ready")
    settings.sandbox = backend
    repo = make_repo(tmp_path / "calc", {
        "calc.py": "def add(a, b):\n    return a - b\n\n\ndef neg(a):\n    return -a\n",
        "test_calc.py": "from calc import add, neg\n\n\ndef test_add():\n"
                        "    assert add(1, 2) == 3\n\n\ndef test_neg():\n    assert neg(2) == -2\n"})
    base = git(repo, "rev-parse", "HEAD").strip()
    fix = ("diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n"
           " def add(a, b):\n-    return a - b\n+    return a + b\n")
    inst = Instance("calc__own-1", str(repo), base, "add is wrong", fix, "",
                    ["test_calc.py::test_add"], ["test_calc.py::test_neg"])
    gold = grade_all([inst], load_predictions("gold", [inst]), tmp_path / "no-repos", settings,
                     tmp_path / "gold")
    log = (tmp_path / "gold" / "logs" / inst.instance_id / "test_output.txt").read_text()
    assert gold["resolved_ids"] == [inst.instance_id], log
    assert "2 passed" in log
    wrong = grade_all([inst], {inst.instance_id: fix.replace("a + b", "b - a")},
                      tmp_path / "no-repos", settings, tmp_path / "wrong")
    assert wrong["unresolved_ids"] == [inst.instance_id]


def test_rerun_tells_flaky_from_failing():
    from patchlore.evals.dataset import Instance
    from patchlore.evals.harness import JunitHarness, Run

    def run(**statuses):
        return Run("", False, {f"t.py::{k}": v for k, v in statuses.items()})

    inst = Instance("i", "o/r", "c", "", "", "", ["t.py::new"], ["t.py::old", "t.py::skip"])
    judge = JunitHarness(inst, "pytest").judge
    first = run(new="failed", old="passed", skip="skipped")
    assert not judge([first]).resolved
    graded = judge([first, run(new="passed", old="passed", skip="skipped")])
    assert graded.resolved and graded.flaky == ["t.py::new"]
    assert judge([run(new="skipped", old="passed", skip="skipped")]).failed_f2p == \
        ["t.py::new"]  # a skipped FAIL_TO_PASS test fails; a skipped PASS_TO_PASS one is kept


def test_images_with_the_repo_inside(mirrors, tmp_path, settings, docker_ready):
    """SWE-bench-style: one image per instance with the repo at /testbed, chosen by template."""
    instances, _ = load_dataset(DATASET)
    chosen = [i for i in instances if i.instance_id in ("patchlore__roman-1",
                                                         "patchlore__median-1")]
    tags = []
    try:
        for inst in chosen:
            tags.append(make_testbed_image(mirrors / inst.repo.replace("/", "__"),
                                      "patchlore-test-testbed:"
                                      + inst.instance_id.replace("__", "_1776_"),
                                      tmp_path / inst.instance_id))
        settings.sandbox = "docker"
        opts = GradeOptions(image_template="patchlore-test-testbed:{id_1776}")
        report = grade_all(chosen, load_predictions("gold", chosen), tmp_path / "no-mirrors",
                           settings, tmp_path / "out", opts)
        assert report["resolved_ids"] == sorted(i.instance_id for i in chosen), report
        empty = grade_all(chosen, {i.instance_id: "x" for i in chosen}, tmp_path, settings,
                          tmp_path / "out2", opts)
        assert empty["resolved_ids"] == []
    finally:
        remove_images(tags)


def test_missing_mirrors_are_cloned_from_the_git_base_url(mirrors, tmp_path, settings,
                                                         monkeypatch):
    # a stand-in for GitHub: bare repos under file://BASE/owner/name.git (no network here)
    server = tmp_path / "server" / "patchlore"
    server.mkdir(parents=True)
    for name in ("median", "chunks"):
        subprocess.run(["git", "clone", "-q", "--bare", str(mirrors / f"patchlore__{name}"),
                        str(server / f"{name}.git")], check=True)
    monkeypatch.setenv("PATCHLORE_GIT_BASE_URL", f"file://{tmp_path / 'server'}")
    instances, _ = load_dataset(DATASET)
    chosen = [i for i in instances if i.repo in ("patchlore/median", "patchlore/chunks",
                                                 "patchlore/roman")]
    settings.sandbox = "local"
    empty_dir = tmp_path / "repos"
    report = grade_all(chosen, load_predictions("gold", chosen), empty_dir, settings,
                       tmp_path / "out", GradeOptions(workers=2))
    assert report["resolved_ids"] == ["patchlore__chunks-1", "patchlore__median-1"]
    assert report["error_ids"] == ["patchlore__roman-1"]  # not on the server: a clear error
    why = json.loads((tmp_path / "out" / "logs" / "patchlore__roman-1" / "report.json")
                     .read_text())["reason"]
    assert "no mirror" in why and "cloning" in why
    assert sorted(p.name for p in empty_dir.iterdir()) == ["patchlore__chunks",
                                                          "patchlore__median"]


def test_grade_selects_instances_as_run_does(mirrors, tmp_path):
    base = ["eval", "grade", "--dataset", str(DATASET), "--predictions", "gold", "--repos-dir",
            str(mirrors), "--output", str(tmp_path / "o"), "--sandbox", "local", "--json"]
    res = run_cli(*base, "--filter", "chunks|durations|flatten", "--slice", "1:",
                  "--instances", "patchlore__chunks-1", "--instances", "patchlore__durations-1")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["resolved_ids"] == ["patchlore__durations-1"]
    assert report["total_instances"] == 1
    for flag, value, said in (("--slice", "two", "--slice 'two': not A:B"),
                              ("--filter", "chunks(", "--filter 'chunks(': not a regular")):
        bad = run_cli(*base, flag, value)
        assert bad.returncode == 2 and bad.stderr.startswith(f"error: {said}"), bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1
