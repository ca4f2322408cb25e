"""Test runners other than pytest (Django's runtests.py, sympy's bin/test, unittest), graded in
real containers: a gold patch resolves, an empty one does not, a broken test is named."""

from __future__ import annotations

import json

import pytest

from conftest import IMAGE, git, make_repo, run_cli
from stub_llm import StubLLM
from patchlore.evals.dataset import Instance
from patchlore.evals.grade import GradeOptions, grade_all
from patchlore.sandbox.runners import detect, for_command
from patchlore.sandbox.runners.django import DjangoRunner
from patchlore.sandbox.runners.sympy import SympyRunner

LIB = "def double(x):\n    return x * 2\n\n\ndef half(x):\n    return x / 2\n"
BUG = LIB.replace("x * 2", "x + 2")

# Django's runner is unittest's with the tests dir on sys.path and labels as modules
RUNTESTS = """import argparse, sys, os, unittest
sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)), os.getcwd()]
args = argparse.ArgumentParser()
args.add_argument('labels', nargs='*')
for flag in ('--verbosity', '--settings', '--parallel'):
    args.add_argument(flag)
labels, here = args.parse_args().labels, os.path.dirname(os.path.abspath(__file__))
# no label: every package under tests/, as Django runs them
suite = (unittest.defaultTestLoader.loadTestsFromNames(labels) if labels else
         unittest.defaultTestLoader.discover(here, pattern='tests.py', top_level_dir=here))
ok = unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful()
sys.exit(0 if ok else 1)
"""
DJ_TESTS = """import unittest
from lib import double, half


class T(unittest.TestCase):
    def test_half(self):
        print('noise from a test', end='')  # stdout, mixed into the log with 2>&1
        self.assertEqual(half(4), 2)
"""
DJ_NEW = DJ_TESTS + "\n    def test_double(self):\n        self.assertEqual(double(5), 10)\n"

# sympy's bin/test, in its --verbose form: "test_x ok", "test_x F", the file's verdict after its
# last test ("test_y ok    [OK]"), "____ file:test ____"
BINTEST = """#!/usr/bin/env python3
import os, sys, traceback, importlib.util
sys.path.insert(0, os.getcwd())
ok = True
import glob
# no file named: every test file of the package's tests/ folders, as bin/test runs them
for path in [a for a in sys.argv[1:] if a.endswith('.py')] or sorted(glob.glob('*/tests/test_*.py')):
    spec = importlib.util.spec_from_file_location('m', path)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    names = [n for n in dir(mod) if n.startswith('test_')]
    print(f'{path}[{len(names)}]'); fails = []
    for i, n in enumerate(names):
        end = '' if i < len(names) - 1 else '    [FAIL]' if fails else '    [OK]'
        try:
            getattr(mod, n)(); print(f'{n} ok' + end)
        except Exception:
            ok = False; print(f'{n} F' + (end and '    [FAIL]')); fails.append((n, traceback.format_exc()))
    for n, tb in fails:
        print(f'____ {path}:{n} ____'); print(tb)
print('=== tests finished ===')
sys.exit(0 if ok else 1)
"""
# sympy's bin/test since 1.13 (2024): pytest underneath, its verbose lines, "file::test_x PASSED"
BINTEST_PYTEST = """#!/usr/bin/env python3
import os, sys, pytest
sys.path.insert(0, os.getcwd())
sys.exit(pytest.main(['-v', '-p', 'no:cacheprovider', *[a for a in sys.argv[1:] if a.endswith('.py')]]))
"""
SY_TESTS = "from lib import double, half\n\n\ndef test_half():\n    assert half(4) == 2\n"
SY_NEW = SY_TESTS + "\n\ndef test_double():\n    assert double(5) == 10\n"


NOOP = "diff --git a/NOTES b/NOTES\nnew file mode 100644\nindex 0000000..e69de29\n"


def _diff(repo, path, new) -> str:
    old = (repo / path).read_text()
    (repo / path).write_text(new)
    out = git(repo, "diff")
    (repo / path).write_text(old)
    return out


def _row(mirrors, name, files, test_file, new_test, f2p, p2p) -> Instance:
    repo = make_repo(mirrors / f"kit__{name}", {**files, "lib.py": BUG}, commit=False)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    return Instance(f"kit__{name}-1", f"kit/{name}", git(repo, "rev-parse", "HEAD").strip(),
                    "double is wrong", _diff(repo, "lib.py", LIB),
                    _diff(repo, test_file, new_test), f2p, p2p,
                    extra={"broken": _diff(repo, "lib.py", LIB.replace("x / 2", "x"))})


@pytest.fixture
def rows(tmp_path):
    mirrors = tmp_path / "mirrors"
    django = _row(mirrors, "djangoish", {"tests/runtests.py": RUNTESTS,
                                        "tests/calc/__init__.py": "",
                                        "tests/calc/tests.py": DJ_TESTS},
                  "tests/calc/tests.py", DJ_NEW, ["test_double (calc.tests.T.test_double)"],
                  ["test_half (calc.tests.T.test_half)"])
    sympy = _row(mirrors, "sympyish", {"bin/test": BINTEST, "pkg/tests/test_lib.py": SY_TESTS},
                 "pkg/tests/test_lib.py", SY_NEW, ["test_double"], ["test_half"])
    sympy_pytest = _row(mirrors, "sympyish_pytest", {"bin/test": BINTEST_PYTEST,
                                                     "pkg/tests/test_lib.py": SY_TESTS},
                        "pkg/tests/test_lib.py", SY_NEW, ["test_double"], ["test_half"])
    return mirrors, [django, sympy, sympy_pytest]


def test_runner_is_chosen_from_the_command_and_the_repo():
    assert for_command("python tests/runtests.py --parallel 1").name == "django"
    assert for_command("bin/test -C --verbose").name == "sympy"
    assert for_command("python -m unittest -v").name == "unittest"
    assert for_command("pytest -q").name == "pytest" and for_command("make test") is None
    assert detect(lambda p: p == "tests/runtests.py", ["test_a (x.T)"])[0].name == "django"
    assert detect(lambda p: p == "bin/test", ["test_a"])[0].name == "sympy"
    assert detect(lambda p: False, ["test_a (x.T)"])[0].name == "unittest"
    assert detect(lambda p: True, ["a.py::test_a"])[0].name == "pytest"
    assert detect(lambda p: p == "bin/test", ["test_a"], "unittest")[0].name == "unittest"
    from patchlore.sandbox.runners import CHOICES
    from patchlore.config import CHOICES as SETTING
    assert SETTING["runner"] == CHOICES
    assert DjangoRunner().directives(["tests/foo/tests.py", "tests/foo/x.json"]) == ["foo.tests"]


@pytest.mark.parametrize("cmd, alone", [
    ("python3 -m pytest -q -p no:cacheprovider", "python3 -m pytest -q -p no:cacheprovider t.py"),
    ("pytest tests/unit", ""), ("pytest t.py::test_a", ""),  # they pick their tests already
    ("python3 tests/runtests.py --settings=test_sqlite --parallel 1",
     "python3 tests/runtests.py --settings=test_sqlite --parallel 1 patchlore_repro.tests"),
    ("./tests/runtests.py", "./tests/runtests.py patchlore_repro.tests"),
    ("bin/test -C --verbose", "bin/test -C --verbose t.py"),
    ("python -m unittest -v", "python -m unittest -v t"),
])
def test_a_command_runs_a_test_file_alone_unless_it_picks_its_tests(cmd, alone):
    runner = for_command(cmd)
    files = ["tests/patchlore_repro/tests.py" if runner.name == "django" else "t.py"]
    assert runner.alone(cmd, files) == alone


def test_output_a_test_prints_does_not_hide_its_outcome():
    # SWE-bench issue #167: read with stdout mixed in, "name ... noiseok" hides the pass
    stderr = "test_half (calc.tests.T) ... ok\ntest_b (calc.tests.T) ... FAIL\n"
    mixed = "test_half (calc.tests.T) ... noise from a testok\ntest_b (calc.tests.T) ... FAIL\n"
    from swebench.harness.log_parsers.python import parse_log_django
    assert "test_half (calc.tests.T)" not in parse_log_django(mixed, None)
    assert DjangoRunner().parse("noise from a test", stderr) == {
        "test_half (calc.tests.T)": "passed", "test_b (calc.tests.T)": "failed"}
    # parse_log_django keys "FAIL: test_b (calc.tests.T)" as "test_b" too; that name is dropped
    report = stderr + "=" * 70 + "\nFAIL: test_b (calc.tests.T)\n" + "-" * 70 + "\nboom\n"
    assert "test_b" in parse_log_django(report, None)
    assert set(DjangoRunner().parse("", report)) == {"test_half (calc.tests.T)",
                                                     "test_b (calc.tests.T)"}
    assert DjangoRunner().messages("", report) == {"test_b (calc.tests.T)": "boom"}
    assert SympyRunner().parse("____ a.py:test_c ____\nTraceback\n", "") == {"test_c": "failed"}
    assert SympyRunner().parse("a.py[3] \ntest_a ok\ntest_x f\ntest_b ok          [OK]\n", "") == {
        "test_a": "passed", "test_x": "xfailed", "test_b": "passed"}
    assert SympyRunner().parse("test_n Numpy is not installed. s\ntest_m Slow w\n", "") == {
        "test_n": "skipped", "test_m": "skipped"}
    # bin/test of 2024 runs pytest (lines from a real sympy run); parse_log_pytest_v2 alone
    # reads none of them: the progress column and a skip's reason end the line
    log = ("============================= test session starts ==============================\n"
           "sympy/core/tests/test_sympify.py::test_issue_3538 PASSED                 [  1%]\n"
           "sympy/core/tests/test_sympify.py::test_issue_16772 XFAIL                 [ 16%]\n"
           "sympy/core/tests/test_sympify.py::test_issue_19399 SKIPPED (numpy no...) [ 44%]\n"
           "sympy/printing/tests/test_pycode.py::test_NumPyPrinter FAILED            [ 76%]\n"
           "______________________________ test_NumPyPrinter _______________________________\n"
           "E   AssertionError: assert 'numpy.PINF' == 'numpy.inf'\n"
           "=========================== short test summary info ============================\n"
           "FAILED sympy/printing/tests/test_pycode.py::test_NumPyPrinter - AssertionErro...\n")
    from swebench.harness.log_parsers.python import parse_log_pytest_v2
    assert not any("::" in t for t in parse_log_pytest_v2(log.replace("FAILED s", "x"), None))
    assert SympyRunner().parse(log, "") == {
        "test_issue_3538": "passed", "test_issue_16772": "xfailed",
        "test_issue_19399": "skipped", "test_NumPyPrinter": "failed"}
    assert SympyRunner().messages(log, "") == {
        "test_NumPyPrinter": "E   AssertionError: assert 'numpy.PINF' == 'numpy.inf'"}


def test_gold_resolves_empty_does_not_a_broken_test_is_named(rows, tmp_path, settings,
                                                              docker_ready):
    mirrors, instances = rows
    settings.sandbox = "docker"
    gold = grade_all(instances, {i.instance_id: i.patch for i in instances}, mirrors, settings,
                     tmp_path / "gold")
    assert gold["resolved_ids"] == sorted(i.instance_id for i in instances), gold
    empty = grade_all(instances, {i.instance_id: "" for i in instances}, mirrors, settings,
                      tmp_path / "empty")
    assert empty["resolved_ids"] == []
    # a patch that changes no code: the tests run on the unfixed code, and the failing one is named
    noop = grade_all(instances, {i.instance_id: NOOP for i in instances}, mirrors, settings,
                     tmp_path / "noop")
    assert noop["unresolved_ids"] == sorted(i.instance_id for i in instances), noop
    for inst in instances:
        report = json.loads((tmp_path / "noop" / "logs" / inst.instance_id /
                             "report.json").read_text())
        assert report["failed_f2p"] == inst.FAIL_TO_PASS and report["failed_p2p"] == []
    # the fix that breaks half(): unresolved, and the PASS_TO_PASS test that broke is named
    broken = {i.instance_id: i.extra["broken"] for i in instances}
    bad = grade_all(instances, broken, mirrors, settings, tmp_path / "broken")
    assert bad["resolved_ids"] == []
    for inst in instances:
        report = json.loads((tmp_path / "broken" / "logs" / inst.instance_id /
                             "report.json").read_text())
        assert report["failed_p2p"] == inst.PASS_TO_PASS and report["failed_f2p"] == []


def test_rows_name_unittest_tests_in_the_form_of_their_python(rows, tmp_path, settings,
                                                              docker_ready):
    # SWE-bench's Django rows were made on Python 3.6-3.9: `test_x (app.tests.T)`; the image's
    # Python 3.11 prints `test_x (app.tests.T.test_x)`. Either form finds the test.
    import dataclasses

    mirrors, (django, *_) = rows
    old = dataclasses.replace(django, instance_id="kit__djangoish-2",
                              FAIL_TO_PASS=["test_double (calc.tests.T)"],
                              PASS_TO_PASS=["test_half (calc.tests.T)"])
    settings.sandbox = "docker"
    gold = grade_all([old], {old.instance_id: old.patch}, mirrors, settings, tmp_path / "gold")
    assert gold["resolved_ids"] == [old.instance_id], gold
    grade_all([old], {old.instance_id: old.extra["broken"]}, mirrors, settings, tmp_path / "bad")
    report = json.loads((tmp_path / "bad" / "logs" / old.instance_id / "report.json").read_text())
    assert report["status"] == "unresolved"
    assert report["failed_p2p"] == ["test_half (calc.tests.T)"] and report["failed_f2p"] == []
    from patchlore.sandbox.runners.base import both_forms
    assert both_forms({"test_a (x.T)": "passed"})["test_a (x.T.test_a)"] == "passed"
    assert both_forms({"test_a (x.T.test_a)": "failed"})["test_a (x.T)"] == "failed"
    assert both_forms({"test_a": "passed", "A docstring (x)": "passed"}) == {
        "test_a": "passed", "A docstring (x)": "passed"}


GOOD = """double adds instead of multiplying.

lib.py
<<<<<<< SEARCH
    return x + 2
=======
    return x * 2
>>>>>>> REPLACE
"""
# fixes double and breaks half, whose test passed before
BREAKS_HALF = GOOD + """
lib.py
<<<<<<< SEARCH
    return x / 2
=======
    return x
>>>>>>> REPLACE
"""

PROJECTS = {
    # name: files with the failing test in place, --test-cmd, the failing test, the broken one
    "django": ({"tests/runtests.py": RUNTESTS, "tests/calc/__init__.py": "",
                "tests/calc/tests.py": DJ_NEW},
               "python3 tests/runtests.py --verbosity 2 --settings=test_sqlite calc.tests",
               "test_double (calc.tests.T.test_double)", "test_half (calc.tests.T.test_half)"),
    "sympy": ({"bin/test": BINTEST, "pkg/tests/test_lib.py": SY_NEW},
              "python3 bin/test -C --verbose pkg/tests/test_lib.py", "test_double", "test_half"),
    "unittest": ({"tests/__init__.py": "", "tests/test_lib.py": DJ_NEW},
                 "python3 -m unittest -v", "test_double (tests.test_lib.T.test_double)",
                 "test_half (tests.test_lib.T.test_half)"),
}


@pytest.mark.parametrize("kind", sorted(PROJECTS))
def test_fix_rejects_a_candidate_that_breaks_another_test_by_its_name(kind, tmp_path,
                                                                       docker_ready):
    files, cmd, failing, other = PROJECTS[kind]
    repo = make_repo(tmp_path / kind, {**files, "lib.py": BUG})
    with StubLLM([[BREAKS_HALF, GOOD]]) as stub:
        res = run_cli("fix", "--repo", str(repo), "--model", "hosted_vllm/stub-coder",
                      "--api-base", stub.api_base, "--test-cmd", cmd, "--samples", "2",
                      "--sandbox", "docker", "--json", env={"PATCHLORE_MEMORY_MODE": "off"},
                      timeout=300)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "verified" and out["failing_before"] == [failing]
    cands = {c["answer"]: c for c in out["candidates"]}
    assert cands[GOOD]["verified"] and not cands[BREAKS_HALF]["verified"]
    reason = cands[BREAKS_HALF]["reason"]
    assert "breaks tests that passed before" in reason and other in reason, reason


def test_doctor_names_the_runner_and_why(tmp_path):
    repo = make_repo(tmp_path / "dj", {"tests/runtests.py": RUNTESTS})
    checks = {}
    for cmd in ("python3 -m pytest -q", DjangoRunner.command):
        res = run_cli("doctor", "--repo", str(repo), "--json", env={"PATCHLORE_TEST_CMD": cmd})
        checks[cmd] = next(c for c in json.loads(res.stdout)["checks"] if c["name"] == "runner")
    res = run_cli("doctor", "--repo", str(repo), "--json")  # no test command chosen
    checks["own"] = next(c for c in json.loads(res.stdout)["checks"] if c["name"] == "runner")
    wrong, right, own = checks.values()
    assert wrong["status"] == "warn" and "tests/runtests.py" in wrong["detail"]
    assert DjangoRunner.command in wrong["fix"]
    assert right["status"] == "ok" and right["detail"].startswith("django")
    # the repo's own runner is what fix and eval run use when no test command was chosen
    assert own["status"] == "ok" and own["detail"].startswith("django"), own
    assert "no test command was chosen" in own["detail"]


def test_sandbox_exec_names_the_failing_tests_of_any_runner(tmp_path, docker_ready):
    files, cmd, failing, other = PROJECTS["unittest"]
    repo = make_repo(tmp_path / "ut", {**files, "lib.py": BUG})
    res = run_cli("sandbox", "exec", "--repo", str(repo), "--sandbox", "docker", "--",
                  *cmd.split(), env={"COLUMNS": "200"}, timeout=300)
    assert res.returncode == 1, res.stderr
    table = res.stderr[res.stderr.index("failing tests"):]
    assert failing in table and other not in table
    assert "tests: 1 failed, 1 passed" in res.stderr


@pytest.mark.parametrize("kind", sorted(PROJECTS))
def test_localize_reads_the_failing_tests_of_any_runner(kind, tmp_path, docker_ready):
    files, cmd, failing, other = PROJECTS[kind]
    repo = make_repo(tmp_path / kind, {**files, "lib.py": BUG})
    res = run_cli("localize", "--repo", str(repo), "--test-cmd", cmd, "--sandbox", "docker",
                  "--json", timeout=300)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    # named as the runner's log names it (a command judged by its exit code names itself)
    assert out["failing"] == [failing]
    test_file = next(f for f in files if f.rsplit("/", 1)[-1] in ("tests.py", "test_lib.py"))
    assert (test_file, "whole file: in a traceback") in {(s["path"], s["why"])
                                                         for s in out["snippets"]}


UT_REPRO = """import unittest
from lib import double


class R(unittest.TestCase):
    def test_double_five(self):
        self.assertEqual(double(5), 10)
"""
SY_REPRO = "from lib import double\n\n\ndef test_patchlore_repro_double():\n    assert double(5) == 10\n"
ISSUES = {
    # name: files (the suite green, the bug only reported), --test-cmd (none: the repo's own
    # runner), where the reproduction test must go and in what form, what it is named
    "django": ({"tests/runtests.py": RUNTESTS, "tests/calc/__init__.py": "",
                "tests/calc/tests.py": DJ_TESTS}, None, "tests/patchlore_repro/tests.py",
               UT_REPRO, "test_double_five (patchlore_repro.tests.R"),
    "sympy": ({"bin/test": BINTEST, "pkg/tests/test_lib.py": SY_TESTS}, None,
              "pkg/tests/test_patchlore_repro.py", SY_REPRO, "test_patchlore_repro_double"),
    "unittest": ({"tests/__init__.py": "", "tests/test_lib.py": DJ_TESTS}, "python3 -m unittest -v",
                 "test_patchlore_repro.py", UT_REPRO, "test_double_five (test_patchlore_repro.R"),
}


def _block(path: str, text: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n=======\n{text}>>>>>>> REPLACE\n"


@pytest.mark.parametrize("kind", sorted(ISSUES))
def test_an_issue_is_reproduced_where_the_repo_s_runner_runs_it(kind, tmp_path, docker_ready):
    files, cmd, path, repro, name = ISSUES[kind]
    repo = make_repo(tmp_path / kind, {**files, "lib.py": BUG})
    # a pytest file at the root, which this runner never runs, cannot reproduce the bug here
    elsewhere = _block("test_patchlore_repro.py" if path != "test_patchlore_repro.py" else
                       "tests/test_elsewhere.py", "from lib import double\n\n\ndef test_d():\n"
                       "    assert double(5) == 10\n")
    # in the runner's place but passing on the bug: it shows none, and its run alone says so
    shows_none = _block(path, repro.replace("self.assertEqual(double(5), 10)",
                                            "self.assertTrue(callable(double))")
                        .replace("assert double(5) == 10", "assert callable(double)"))
    with StubLLM([[elsewhere, shows_none, _block(path, repro)], [GOOD]]) as stub:
        res = run_cli("fix", "--repo", str(repo), "--model", "hosted_vllm/stub-coder",
                      "--api-base", stub.api_base, *(["--test-cmd", cmd] if cmd else []),
                      "--samples", "3", "--sandbox", "docker", "--json",
                      "--issue", "double(5) gives 7, not 10",
                      env={"PATCHLORE_MEMORY_MODE": "off"}, timeout=300)
        asked = stub.requests[0]["messages"][-1]["content"]
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert f"`{path}`" in asked and "reproduce the bug" in asked
    assert out["status"] == "verified", out
    assert len(out["failing_before"]) == 1 and out["failing_before"][0].startswith(name), out
    assert "lib.py" in out["patch"] and "patchlore_repro" not in out["patch"]
    assert git(repo, "status", "--porcelain") == ""  # the working tree is left as it was
    (traj,) = (repo / ".patchlore" / "runs").glob("*/trajectory.jsonl")
    runs = [e for e in map(json.loads, traj.read_text().splitlines()) if e["kind"] == "test_run"]
    alone = [e["run"] for e in runs if e["phase"] == "reproduction alone"]
    # the two in the runner's place ran alone, named as the runner names them; only the one
    # that fails cost a run of the whole suite
    assert len(alone) == 2 and all(any(t.startswith(name) for t in a["tests"]) for a in alone)
    assert [e["phase"] for e in runs].count("reproduction") == 1


def test_a_repo_s_own_runner_is_its_test_command_unless_one_is_chosen(tmp_path):
    from patchlore.config import load_settings
    from patchlore.sandbox.runners import repo_test_cmd

    dj = make_repo(tmp_path / "dj", {"tests/runtests.py": RUNTESTS})
    plain = make_repo(tmp_path / "plain", {"lib.py": LIB})
    default = load_settings(plain)
    assert repo_test_cmd(default, dj) == DjangoRunner.command
    assert repo_test_cmd(default, plain) == default.test_cmd
    chosen = load_settings(dj, {"test_cmd": "python3 -m pytest -q tests"})
    assert repo_test_cmd(chosen, dj) == "python3 -m pytest -q tests"
    named = load_settings(plain, {"runner": "unittest"})
    assert repo_test_cmd(named, plain) == "python3 -m unittest -v"


def test_eval_run_repairs_rows_of_any_runner_into_predictions_that_resolve(rows, tmp_path):
    mirrors, instances = rows
    dataset = tmp_path / "rows.jsonl"
    dataset.write_text("".join(json.dumps({k: v for k, v in vars(i).items() if k != "extra"})
                               + "\n" for i in instances))
    where = {"djangoish": ("tests/patchlore_repro/tests.py", UT_REPRO),
             "sympyish": ("pkg/tests/test_patchlore_repro.py", SY_REPRO),
             "sympyish_pytest": ("pkg/tests/test_patchlore_repro.py", SY_REPRO)}
    script = [[_block(*where[i.repo.split("/")[1]])] if k == 0 else [GOOD]
              for i in sorted(instances, key=lambda i: i.instance_id) for k in (0, 1)]
    with StubLLM(script) as stub:
        res = run_cli("eval", "run", "--dataset", str(dataset), "--repos-dir", str(mirrors),
                      "--output", str(tmp_path / "out"), "--model", "hosted_vllm/stub-coder",
                      "--api-base", stub.api_base, "--samples", "1", "--rounds", "1",
                      "--memory-mode", "off", "--sandbox", "local", "--run-id", "r",
                      timeout=600)
    assert res.returncode == 0, res.stderr
    preds = tmp_path / "out" / "r" / "predictions.jsonl"
    patches = [json.loads(ln)["model_patch"] for ln in preds.read_text().splitlines()]
    assert len(patches) == 3 and all("lib.py" in p and "patchlore_repro" not in p
                                     for p in patches), patches
    graded = run_cli("eval", "grade", "--dataset", str(dataset), "--predictions", str(preds),
                     "--repos-dir", str(mirrors), "--output", str(tmp_path / "g"),
                     "--sandbox", "local", "--json", timeout=300)
    report = json.loads(graded.stdout)
    assert report["resolved_ids"] == sorted(i.instance_id for i in instances), report


SUBTESTS = '''import unittest


class S(unittest.TestCase):
    def test_sub(self):
        for env in [None, {}]:
            with self.subTest(env=env):
                self.assertIsNone(env)

    def test_ok(self):
        """Named by its docstring."""

    def test_when(self):
        import time
        with self.subTest(time.time()):  # a message: each run names this subtest anew
            self.fail("late")

    def test_zz(self):
        pass
'''


@pytest.mark.parametrize("image, name", [(IMAGE, "test_sub (test_s.S.test_sub)"),
                                         (IMAGE.split(":")[0] + ":py3.9", "test_sub (test_s.S)")])
def test_a_test_whose_subtest_fails_fails_by_its_name_on_every_python(image, name, tmp_path,
                                                                        docker_ready):
    """A failing subtest: before Python 3.11 its test's line gets no status and the next test's
    runs on from it; from 3.11 the failure is reported under the subtest's name. Either way the
    test fails by the name rows give it, with its traceback, and the test after it is read."""
    repo = make_repo(tmp_path / "ut", {"test_s.py": SUBTESTS})
    res = run_cli("sandbox", "exec", "--repo", str(repo), "--sandbox", "docker", "--json", "--",
                  "python3", "-m", "unittest", "-v", "test_s", env={"PATCHLORE_IMAGE": image},
                  timeout=300)
    tests = json.loads(res.stdout)["tests"]
    assert {t: o["status"] for t, o in tests.items()} == {
        name: "failed", name.replace("test_sub", "test_zz"): "passed",
        name.replace("test_sub", "test_when"): "failed",
        "Named by its docstring.": "passed"}, res.stderr
    assert "{} is not None" in tests[name]["message"]
    assert "late" in tests[name.replace("test_sub", "test_when")]["message"]
