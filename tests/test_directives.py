"""Which files the test runner is given: SWE-bench's test directives, in a real sandbox."""

from __future__ import annotations

import json
from pathlib import Path

from pkgindex import diff_of, git, write_tree
from patchlore.evals.dataset import load_dataset, load_predictions
from patchlore.evals.grade import grade_all
from patchlore.evals.harness import directives_of

CODE = "import json\n\n\ndef load(path):\n    return json.load(open(path))['x']\n"
TESTS = "from pathlib import Path\nfrom conf import load\n\n\ndef test_old():\n    assert True\n"
NEW_TEST = ("\n\ndef test_data():\n    here = Path(__file__).parent\n"
            "    assert load(here / 'data' / 'x.json') == 2\n")


def data_file_dataset(tmp: Path) -> Path:
    """A repo whose test patch adds a test and the data file it reads."""
    repo = tmp / "repos" / "o__conf"
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    write_tree(repo, {"conf.py": CODE.replace("['x']", "['y']"), "tests/test_conf.py": TESTS,
                      "conftest.py": ""})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    test_patch = diff_of(repo, {"tests/test_conf.py": TESTS + NEW_TEST})
    write_tree(repo, {"tests/data/x.json": '{"x": 2, "y": 0}\n'})
    git(repo, "add", "-N", "tests/data/x.json")
    test_patch += git(repo, "diff", "--", "tests/data")
    git(repo, "rm", "-q", "--cached", "tests/data/x.json")
    (repo / "tests/data/x.json").unlink()
    row = {"instance_id": "o__conf-1", "repo": "o/conf",
           "base_commit": git(repo, "rev-parse", "HEAD").strip(), "problem_statement": "p",
           "patch": diff_of(repo, {"conf.py": CODE}), "test_patch": test_patch,
           "FAIL_TO_PASS": ["tests/test_conf.py::test_data"],
           "PASS_TO_PASS": ["tests/test_conf.py::test_old"]}
    (tmp / "d.jsonl").write_text(json.dumps(row) + "\n")
    return tmp / "d.jsonl"


def test_data_files_are_not_test_directives():
    patch = ("diff --git a/t/test_a.py b/t/test_a.py\n--- a/t/test_a.py\n+++ b/t/test_a.py\n"
             "diff --git a/t/data/x.json b/t/data/x.json\nnew file mode 100644\n--- /dev/null\n"
             "+++ b/t/data/x.json\ndiff --git a/t/fix.csv b/t/fix.csv\n"
             "diff --git a/t/test_gone.py b/t/test_gone.py\ndeleted file mode 100644\n"
             "--- a/t/test_gone.py\n+++ /dev/null\n"
             "diff --git a/t/conftest.py b/t/conftest.py\n")
    assert directives_of(patch) == ["t/test_a.py", "t/conftest.py"]


def test_a_test_patch_with_data_files_grades_like_swe_bench(tmp_path, settings, docker_ready):
    path = data_file_dataset(tmp_path)
    instances, _ = load_dataset(path)
    settings.sandbox = "docker"
    gold = grade_all(instances, load_predictions("gold", instances), tmp_path / "repos",
                     settings, tmp_path / "gold")
    assert gold["resolved_ids"] == ["o__conf-1"], gold
    log = (tmp_path / "gold" / "logs" / "o__conf-1" / "test_output.txt").read_text()
    assert "2 passed" in log
    empty = grade_all(instances, load_predictions("empty", instances), tmp_path / "repos",
                      settings, tmp_path / "empty")
    assert empty["resolved_ids"] == [] and empty["empty_patch_ids"] == ["o__conf-1"]
    # a patch that changes nothing that matters: the new test runs, and fails
    noop = instances[0].patch.replace("['x']", "['y']  # x")
    unfixed = grade_all(instances, {"o__conf-1": noop}, tmp_path / "repos", settings,
                        tmp_path / "noop")
    assert unfixed["unresolved_ids"] == ["o__conf-1"]
    report = json.loads((tmp_path / "noop" / "logs" / "o__conf-1" / "report.json").read_text())
    assert report["failed_f2p"] == ["tests/test_conf.py::test_data"]
    assert report["failed_p2p"] == []


def test_tests_answer_to_swe_bench_s_names_for_them():
    """SWE-bench's rows name a parametrized test with a space in its id by the part before it."""
    from patchlore.evals.harness import swebench_names

    named = swebench_names({"t.py::f[a b-0]": "passed", "t.py::f[a c-1]": "failed",
                            "t.py::g[x y]": "passed", "t.py::h": "skipped"})
    assert named["t.py::f[a"] == "failed" and named["t.py::g[x"] == "passed"
    assert named["t.py::f[a b-0]"] == "passed" and named["t.py::h"] == "skipped"
    assert len(named) == 6


def test_a_row_of_another_test_runner_is_run_by_that_runner(tmp_path, settings):
    """A row without eval_script whose tests are named by another runner (unittest's style, and
    the repo has no runner of its own) runs under `python -m unittest`, never pytest: graded,
    not refused, and the report names the runner."""
    path = data_file_dataset(tmp_path)
    row = json.loads(path.read_text())
    row.update(FAIL_TO_PASS=["test_data (conf.tests.ConfTests)"],
               PASS_TO_PASS=["test_old (conf.tests.ConfTests)"])
    path.write_text(json.dumps(row) + "\n")
    instances, _ = load_dataset(path)
    settings.sandbox = "local"
    report = grade_all(instances, load_predictions("gold", instances), tmp_path / "repos",
                       settings, tmp_path / "out")
    assert report["error_ids"] == [] and report["unresolved_ids"] == ["o__conf-1"]
    grade = json.loads((tmp_path / "out" / "logs" / "o__conf-1" / "report.json").read_text())
    assert grade["runner"] == "unittest" and "not pytest node ids" in grade["runner_why"]
