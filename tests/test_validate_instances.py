"""Mined instances validated by their runs (benchmarks/validate_instances.py): what the run
says about a row's labels, and what it may not be used to hide."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from validate_instances import judged, relabel, run_statuses, validate  # noqa: E402

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


def test_a_set_is_relabelled_by_the_statuses_eval_grade_wrote(tmp_path):
    """Both mined sets (env_generalize.py, runner_instances.py) go through this: the statuses
    each instance's grade wrote, an instance without them kept as mined."""
    shows_none = {**ROW, "instance_id": "o__r-2"}
    no_run = {**ROW, "instance_id": "o__r-3"}
    for run, statuses in (("gold", {"t.py::test_new": "passed", "t.py::test_also_new": "passed",
                                    "t.py::test_old": "passed"}),
                          ("empty", {"t.py::test_new": "failed", "t.py::test_also_new": "passed",
                                     "t.py::test_old": "passed"})):
        for iid, st in (("o__r-1", statuses), ("o__r-2", {**statuses, "t.py::test_new": "passed"})):
            (tmp_path / run / "logs" / iid).mkdir(parents=True)
            (tmp_path / run / "logs" / iid / "tests.json").write_text(json.dumps(st))
    ids = ["o__r-1", "o__r-2", "o__r-3"]
    after, before = run_statuses(tmp_path / "gold", ids), run_statuses(tmp_path / "empty", ids)
    assert before["o__r-3"] == {} and before["o__r-1"]["t.py::test_new"] == "failed"
    kept, dropped, relabelled = relabel([ROW, shows_none, no_run], before, after)
    assert [r["instance_id"] for r in kept] == ["o__r-1", "o__r-3"]
    assert dropped == {"o__r-2": "its 2 new test(s) pass without the fix"}
    assert list(relabelled) == ["o__r-1"] and kept[0]["FAIL_TO_PASS"] == ["t.py::test_new"]
    assert judged(kept, after) == ["o__r-1"] and judged(kept, before) == []
