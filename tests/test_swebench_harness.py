"""Grading rows that carry SWE-bench's own eval_script and log_parser (the SWE-bench 5 format)
with the `swebench` package's parsers and resolution rule, in real containers.

SWE-bench's per-instance images live in a remote registry that cannot be reached here: images
built from the minibench mirrors (the repo and its .git at /testbed) stand in for them, and each
row's eval_script is written in the shape SWE-bench's own scripts have.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import make_testbed_image, remove_images, run_cli

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT / "examples" / "minibench" / "minibench.jsonl"
IDS = ("patchlore__chunks-1", "patchlore__median-1")


def eval_script(row: dict) -> str:
    """The shape of SWE-bench's Python eval scripts: reset the test files, apply the test
    patch, run the tests between the markers, reset the test files again."""
    files = " ".join(sorted({line[6:] for line in row["test_patch"].splitlines()
                             if line.startswith("+++ b/")}))
    base = row["base_commit"]
    return "\n".join([
        "#!/bin/bash", "set -uxo pipefail", "cd /testbed",
        # SWE-bench's scripts write where only root may (a package reinstall, locale-gen)
        "mkdir -p /usr/local/share/sweb && touch /usr/local/share/sweb/reinstalled",
        f"git checkout {base} {files}",
        "git apply -v - <<'EOF_114329324912'", row["test_patch"].rstrip("\n"),
        "EOF_114329324912",
        ": '>>>>> Start Test Output'", f"python3 -m pytest -rA {files}",
        ": '>>>>> End Test Output'", f"git checkout {base} {files}", ""])


@pytest.fixture(scope="module")
def images(mirrors, tmp_path_factory, docker_ready):
    tags = {}
    try:
        for iid in IDS:
            tags[iid] = make_testbed_image(mirrors / iid.removesuffix("-1"),
                                           "patchlore-test-sweb:" + iid.replace("__", "_1776_"),
                                           tmp_path_factory.mktemp(iid))
        yield tags
    finally:
        remove_images(list(tags.values()))


def swebench_rows(images: dict[str, str], **overrides) -> list[dict]:
    rows = [json.loads(line) for line in DATASET.read_text().splitlines()]
    chosen = [r for r in rows if r["instance_id"] in images]
    for r in chosen:
        r.update({"image": images[r["instance_id"]], "eval_script": eval_script(r),
                  "log_parser": "parse_log_pytest", "eval_type": "pass_and_fail", **overrides})
    return chosen


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def grade(dataset: Path, predictions: str, out: Path, *extra: str) -> dict:
    res = run_cli("eval", "grade", "--dataset", str(dataset), "--predictions", predictions,
                  "--repos-dir", str(out / "none"), "--output", str(out), "--json",
                  "--sandbox", "docker", *extra, timeout=600)
    report = json.loads(res.stdout)
    # exit 1 says some instances could not be graded (errors), 0 that all were
    assert res.returncode == (1 if report["error_instances"] else 0), res.stderr[-2000:]
    return report


def no_op_patch(mirror: Path, work: Path) -> str:
    """A patch that applies cleanly but fixes nothing: a comment in the module under test."""
    subprocess.run(["git", "clone", "-q", str(mirror), str(work)], check=True)
    module = next(p for p in work.glob("*.py") if not p.name.startswith("test_"))
    module.write_text("# nothing fixed here\n" + module.read_text())
    return subprocess.run(["git", "-C", str(work), "diff"], capture_output=True, text=True,
                          check=True).stdout


def test_gold_resolves_with_swebench_s_parser_and_rule(images, tmp_path):
    dataset = write(tmp_path / "sweb.jsonl", swebench_rows(images))
    report = grade(dataset, "gold", tmp_path / "gold")
    assert report["resolved_ids"] == sorted(IDS), report
    log_dir = tmp_path / "gold" / "logs" / IDS[0]
    assert json.loads((log_dir / "report.json").read_text())["harness"] == "swebench"
    log = (log_dir / "test_output.txt").read_text()
    assert ">>>>> Start Test Output" in log and "PASSED test_chunks.py::" in log
    assert "Permission denied" not in log


def test_a_patch_that_fixes_nothing_is_unresolved(images, mirrors, tmp_path):
    dataset = write(tmp_path / "sweb.jsonl", swebench_rows(images))
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({
        "instance_id": iid, "model_name_or_path": "m",
        "model_patch": no_op_patch(mirrors / iid.removesuffix("-1"), tmp_path / iid)}) + "\n"
        for iid in IDS))
    report = grade(dataset, str(preds), tmp_path / "out")
    assert report["unresolved_ids"] == sorted(IDS), report
    graded = json.loads((tmp_path / "out" / "logs" / IDS[0] / "report.json").read_text())
    assert graded["failed_f2p"] == ["test_chunks.py::test_last_chunk_may_be_short"]
    assert graded["failed_p2p"] == [] and graded["harness"] == "swebench"


def test_a_script_that_never_reaches_the_tests_is_unresolved(images, tmp_path):
    rows = swebench_rows(images)
    for r in rows:
        r["eval_script"] = "#!/bin/bash\nset -uxo pipefail\nexit 3\n"
    report = grade(write(tmp_path / "sweb.jsonl", rows), "gold", tmp_path / "out")
    assert report["unresolved_ids"] == sorted(IDS)
    graded = json.loads((tmp_path / "out" / "logs" / IDS[0] / "report.json").read_text())
    assert graded["reason"] == "swebench found no valid test output in the log"


def test_an_unknown_log_parser_is_an_error_naming_it(images, tmp_path):
    rows = swebench_rows(images, log_parser="parse_log_nothing")
    report = grade(write(tmp_path / "sweb.jsonl", rows), "gold", tmp_path / "out")
    assert report["error_ids"] == sorted(IDS)
    graded = json.loads((tmp_path / "out" / "logs" / IDS[0] / "report.json").read_text())
    assert "no log parser named 'parse_log_nothing'" in graded["reason"]


def test_junit_can_be_forced_on_the_same_rows(images, tmp_path):
    dataset = write(tmp_path / "sweb.jsonl", swebench_rows(images))
    junit = grade(dataset, "gold", tmp_path / "junit", "--harness", "junit")
    assert junit["resolved_ids"] == sorted(IDS)
    graded = json.loads((tmp_path / "junit" / "logs" / IDS[0] / "report.json").read_text())
    assert graded["harness"] == "junit"


def test_a_hanging_eval_script_is_killed_at_the_time_limit(images, tmp_path):
    rows = swebench_rows(images)[:1]
    rows[0]["eval_script"] = rows[0]["eval_script"].replace(
        "python3 -m pytest -rA", "sleep 600 & sleep 600; python3 -m pytest -rA")
    report = grade(write(tmp_path / "sweb.jsonl", rows), "gold", tmp_path / "out",
                   "--timeout", "3")
    assert report["unresolved_ids"] == [IDS[0]]
    graded = json.loads((tmp_path / "out" / "logs" / IDS[0] / "report.json").read_text())
    assert graded["reason"] == "tests timed out after 3 s" and graded["seconds"] < 60


def test_an_eval_script_without_its_image_is_an_error_saying_so(tmp_path):
    rows = swebench_rows({iid: "" for iid in IDS})
    report = grade(write(tmp_path / "sweb.jsonl", rows), "gold", tmp_path / "out")
    assert report["error_ids"] == sorted(IDS)
    graded = json.loads((tmp_path / "out" / "logs" / IDS[0] / "report.json").read_text())
    assert graded["reason"] == (f"{IDS[0]}: SWE-bench's eval_script runs in the instance's own "
                                "image (give rows an `image` field or --image-template, or use "
                                "--harness junit)")  # what is wrong, and what to do
