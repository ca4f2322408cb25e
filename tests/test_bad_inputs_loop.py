"""Bad input on the repair loop's and the patches' paths, one row per case of the probe in
issue 11 (#6, #9, #11, #13). Each row must end in one `error:` line with its exit code, or in
the correct behaviour; the host tree stays as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CALC, make_repo, run_cli, tree_digest
from loopkit import TEST_CMD, edit, replay_file, run_repair
from patchlore.repair.session import apply_to_worktree
from patchlore.sandbox.verify import Status
from patchlore.errors import PatchloreError
from patchlore.evals.dataset import load_dataset, load_predictions
from patchlore.evals.grade import grade_all
from patchlore.sandbox.snapshot import take_snapshot

ROOT = Path(__file__).resolve().parent.parent
ESCAPES = {
    "absolute": "--- /dev/null\n+++ {target}\n@@ -0,0 +1 @@\n+owned\n",
    "dot-dot": "--- /dev/null\n+++ b/../{name}\n@@ -0,0 +1 @@\n+owned\n",
}
GOOD = edit("calc.py", "    return a - b\n", "    return a + b\n")
NO_MATCH = edit("calc.py", "    return a / b\n", "    return a + b\n")


def escape(kind: str, tmp_path: Path) -> tuple[str, Path]:
    """A diff that writes outside the repo, and the file it would create."""
    target = tmp_path / f"owned-{kind}.txt"
    return ESCAPES[kind].format(target=target, name=target.name), target


@pytest.fixture
def calc(tmp_path):
    return make_repo(tmp_path / "calc", CALC)


# --- #6: a diff whose paths leave the repo is refused before applying, in every route ------

@pytest.mark.parametrize("kind", sorted(ESCAPES))
def test_6_loop_candidate_outside_the_repo(calc, tmp_path, kind):
    diff, target = escape(kind, tmp_path)
    ran = run_repair(calc, tmp_path / "w", [[f"```diff\n{diff}```\n"]])
    (cand,) = ran.result.candidates
    assert cand.status == Status.NOT_APPLIED and "writes outside the repo" in cand.reason
    assert ran.result.status == "unverified" and not target.exists()


@pytest.mark.parametrize("kind", sorted(ESCAPES))
def test_6_sandbox_exec_patch_outside_the_repo(calc, tmp_path, kind):
    diff, target = escape(kind, tmp_path)
    (tmp_path / "evil.diff").write_text(diff)
    before = tree_digest(calc)
    res = run_cli("sandbox", "exec", "--repo", str(calc), "--sandbox", "local", "--patch",
                  str(tmp_path / "evil.diff"), "--", "true")
    assert res.returncode == 2, res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "writes outside the repo" in errors[0], res.stderr
    assert "Traceback" not in res.stderr and not target.exists()
    assert tree_digest(calc) == before


def test_6_eval_grade_prediction_outside_the_repo(mirrors, tmp_path, settings):
    settings.sandbox = "local"
    instances, _ = load_dataset(ROOT / "examples" / "minibench" / "minibench.jsonl")
    inst = instances[0]
    diff, target = escape("absolute", tmp_path)
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"instance_id": inst.instance_id, "model_name_or_path": "m",
                                 "model_patch": inst.patch + diff}) + "\n")
    report = grade_all([inst], load_predictions(str(preds), [inst]), mirrors, settings,
                       tmp_path / "out")
    assert report["unresolved_ids"] == [inst.instance_id]
    graded = json.loads((tmp_path / "out" / "logs" / inst.instance_id / "report.json")
                        .read_text())
    assert "writes outside the repo" in graded["reason"] and not target.exists()


@pytest.mark.parametrize("kind", sorted(ESCAPES))
def test_6_apply_on_the_host_outside_the_repo(calc, tmp_path, kind):
    diff, target = escape(kind, tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "patch.diff").write_text(diff)
    before = tree_digest(calc)
    with pytest.raises(PatchloreError, match="writes outside the repo"):
        apply_to_worktree(take_snapshot(calc), diff, run_dir)
    assert tree_digest(calc) == before and not target.exists()


# --- #9: a huge model answer is capped in the run record, and the record says so ----------

def test_9_huge_answers_are_capped_in_the_run_record(calc, tmp_path):
    huge = "x" * 5_000_000 + "\n" + GOOD
    ran = run_repair(calc, tmp_path / "w", [[huge, huge + " "]])
    record = tmp_path / "w" / "runs"
    size = sum(p.stat().st_size for p in record.rglob("*") if p.is_file())
    assert size < 2_000_000, size  # two 5 MB answers, logged as replies and as candidates
    assert ran.result.status == "verified"  # the whole answer was still read
    reply = ran.kinds("model_reply")[0]["texts"][0]
    assert "characters cut here" in reply and len(reply) < 200_000
    assert all("characters cut here" in c.answer for c in ran.result.candidates)


# --- #11: a test command that cannot run, or collects nothing, is bad input --------------

NO_TESTS = {"calc.py": CALC["calc.py"]}


@pytest.mark.parametrize("files, command, says", [
    (CALC, "no-such-test-runner -q", "the test command cannot run (exit 127"),
    (NO_TESTS, TEST_CMD, "pytest collected no tests (exit 5)"),
    (NO_TESTS, f"cd . && {TEST_CMD}", "pytest collected no tests (exit 5)"),
], ids=["not-found-127", "nothing-collected-5", "nothing-collected-5-compound"])
def test_11_fix_with_an_unusable_test_command(tmp_path, files, command, says):
    repo = make_repo(tmp_path / "repo", files)
    replay = replay_file(tmp_path / "replay.jsonl", [[GOOD]])
    res = run_cli("fix", "--repo", str(repo), "--sandbox", "local", "--model",
                  f"replay:{replay}", "--test-cmd", command,
                  env={"PATCHLORE_MEMORY_MODE": "off"})
    assert res.returncode == 2, res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and says in errors[0], res.stderr
    assert "Traceback" not in res.stderr
    (run,) = (repo / ".patchlore" / "runs").iterdir()
    events = [json.loads(ln) for ln in (run / "trajectory.jsonl").read_text().splitlines()]
    assert not [e for e in events if e["kind"] in ("prompt", "model_reply")]  # never asked


def test_11_check_where_pytest_collects_nothing(tmp_path):
    repo = make_repo(tmp_path / "repo", NO_TESTS)
    res = run_cli("check", "--repo", str(repo), "--", *TEST_CMD.split())
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: pytest collected no tests"), res.stderr


# --- #13: the summary says why, and identical failing answers are one candidate ----------

def test_13_identical_failing_answers_are_one_candidate_with_votes(calc, tmp_path):
    ran = run_repair(calc, tmp_path / "w", [[NO_MATCH, NO_MATCH, NO_MATCH, "no idea"]])
    votes = sorted((c.votes, c.status.value) for c in ran.result.candidates)
    assert votes == [(1, "invalid"), (3, "invalid")]


def test_13_the_summary_keeps_the_reason_s_substance(calc, tmp_path):
    replay = replay_file(tmp_path / "replay.jsonl", [[NO_MATCH, NO_MATCH]])
    res = run_cli("fix", "--repo", str(calc), "--sandbox", "local", "--model", f"replay:{replay}",
                  "--samples", "2", "--rounds", "1", "--test-cmd", TEST_CMD,
                  env={"PATCHLORE_MEMORY_MODE": "off"})
    assert res.returncode == 1, res.stderr
    (line,) = [ln for ln in res.stderr.splitlines() if "candidate rejected" in ln]
    assert "some edits did not match: calc.py: the SEARCH text is not in the file" in line
    assert "(2 identical answers)" in line and "(invalid)" in line
