"""Mined instances validated by their runs (benchmarks/validate_instances.py): what the run
says about a row's labels, and what it may not be used to hide."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from validate_instances import judged, validate  # noqa: E402

ROW = {"instance_id": "o__r-1", "FAIL_TO_PASS": ["t.py::test_new", "t.py::test_also_new"],
       "PASS_TO_PASS": ["t.py::test_old"]}


def test_a_fixture_parametrized_id_stands_for_the_ids_the_run_reports():
    row = {**ROW, "FAIL_TO_PASS": ["t.py::test_new"], "PASS_TO_PASS": ["t.py::test_old"]}
    before = {"t.py::test_new[a]": "failed", "t.py::test_old[x]": "passed",
              "t.py::test_old[y]": "passed"}
    after = {**before, "t.py::test_new[a]": "passed"}
    new, why = validate(row, before, after)
    assert new["FAIL_TO_PASS"] == ["t.py::test_new[a]"]
    assert new["PASS_TO_PASS"] == ["t.py::test_old[x]", "t.py::test_old[y]"] and why
    assert judged([new], {"o__r-1": after}) == ["o__r-1"]
    assert judged([row], {"o__r-1": after}) == []  # as mined: ids the run never reports


def test_new_tests_that_pass_without_the_fix_drop_the_instance_or_go_to_pass_to_pass():
    before = {"t.py::test_new": "passed", "t.py::test_also_new": "passed",
              "t.py::test_old": "passed"}
    assert validate(ROW, before, before) == (None, "its 2 new test(s) pass without the fix")
    new, _ = validate(ROW, {**before, "t.py::test_also_new": "failed"}, before)
    assert new["FAIL_TO_PASS"] == ["t.py::test_also_new"]
    assert new["PASS_TO_PASS"] == ["t.py::test_old", "t.py::test_new"]


def test_what_fails_after_the_fix_or_does_not_run_is_never_dropped():
    # the environment is what is measured: a broken one must count, not vanish
    broken = {"t.py::test_new": "error", "t.py::test_also_new": "error", "t.py::test_old": "error"}
    assert validate(ROW, broken, broken) == (ROW, "")
    assert judged([ROW], {"o__r-1": broken}) == []
    assert validate(ROW, {}, {}) == (ROW, "")  # no environment: kept as mined
    assert judged([ROW], {}) == []
