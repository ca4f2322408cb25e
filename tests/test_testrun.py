"""Per-test outcomes from real pytest JUnit XML, keyed by pytest node id."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest

from conftest import make_repo
from patchlore.sandbox.runners.pytest import parse_junit, pytest_argv_index, with_junit

SUITE = {
    "tests/__init__.py": "",
    "tests/test_kinds.py": '''
import pytest

def test_pass():
    assert 1

def test_fail():
    assert 1 == 2, "one is not two"

@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n == 1

@pytest.mark.skip(reason="not today")
def test_skip():
    pass

@pytest.mark.xfail(reason="known")
def test_xfail():
    assert 0

@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")

def test_error(broken):
    pass

class TestGroup:
    class TestInner:
        def test_nested(self):
            assert True
''',
}


@pytest.mark.parametrize("cmd, expected", [
    ("pytest -q", "pytest --junitxml=J -o junit_family=xunit1 -o junit_logging=no --tb=short -q"),
    ("python3 -m pytest tests/a.py --tb=long",
     "python3 -m pytest --junitxml=J -o junit_family=xunit1 -o junit_logging=no "
     "tests/a.py --tb=long"),
    ("PYTHONPATH=src /usr/bin/pytest-3 -x",
     "PYTHONPATH=src /usr/bin/pytest-3 --junitxml=J -o junit_family=xunit1 -o "
     "junit_logging=no --tb=short -x"),
    ("make test", None),
    ("pytest -q && echo done", None),
    ("python3 -m unittest", None),
])
def test_with_junit(cmd, expected):
    assert with_junit(cmd, "J") == expected


def test_pytest_argv_index():
    assert pytest_argv_index(["python3.11", "-m", "pytest"]) == 3
    assert pytest_argv_index(["python3"]) is None


def test_real_junit_gives_node_ids_and_statuses(tmp_path):
    repo = make_repo(tmp_path / "kinds", SUITE)
    cmd = with_junit("python -m pytest -q -p no:cacheprovider", str(tmp_path / "out.xml"))
    argv = [sys.executable if a == "python" else a for a in shlex.split(cmd)]
    subprocess.run(argv, cwd=repo, capture_output=True)
    tests = parse_junit((tmp_path / "out.xml").read_bytes())
    status = {k: t.status for k, t in tests.items()}
    f = "tests/test_kinds.py"
    assert status == {
        f"{f}::test_pass": "passed",
        f"{f}::test_fail": "failed",
        f"{f}::test_param[1]": "passed",
        f"{f}::test_param[2]": "failed",
        f"{f}::test_skip": "skipped",
        f"{f}::test_xfail": "xfailed",
        f"{f}::test_error": "error",
        f"{f}::TestGroup::TestInner::test_nested": "passed",
    }
    assert "one is not two" in tests[f"{f}::test_fail"].message
    assert "fixture broke" in tests[f"{f}::test_error"].message
    assert tests[f"{f}::test_xfail"].passed and not tests[f"{f}::test_skip"].passed


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_command_is_no_test_run(tmp_path, blank):
    """A blank command exits 0 with no output: a harness that lost its command would read that
    as a run in which no test passed (the empty log of an instance without a test patch)."""
    from patchlore.errors import PatchloreError
    from patchlore.sandbox.local_backend import LocalSandbox
    from patchlore.sandbox.snapshot import take_snapshot
    from patchlore.sandbox.testrun import run_tests

    repo = make_repo(tmp_path / "kinds", SUITE)
    with LocalSandbox(take_snapshot(repo), timeout=60) as box:
        with pytest.raises(PatchloreError, match="no test command"):
            run_tests(box, blank)
        assert run_tests(box, "python3 -m pytest -q tests/test_kinds.py::test_pass").ids("passed")
