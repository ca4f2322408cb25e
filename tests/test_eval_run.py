"""`patchlore eval run` on the minibench with a scripted model over real HTTP: predictions in
SWE-bench's format that grade as resolved, and resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import remove_images, run_cli, make_testbed_image
from stub_llm import StubLLM

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT / "examples" / "minibench" / "minibench.jsonl"


def repro(test: str) -> str:
    return f"test_patchlore_repro.py\n<<<<<<< SEARCH\n=======\n{test}>>>>>>> REPLACE\n"


def fix(path: str, old: str, new: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{old}=======\n{new}>>>>>>> REPLACE\n"


SCRIPT = {  # per instance: a failing reproduction test, then the fix
    "patchlore__chunks-1": [
        repro("from chunks import chunked\n\n\ndef test_tail():\n"
              "    assert chunked([1, 2, 3], 2) == [[1, 2], [3]]\n"),
        fix("chunks.py", "    return [items[i:i + size] for i in range(0, len(items) - size + 1, "
            "size)]\n", "    return [items[i:i + size] for i in range(0, len(items), size)]\n")],
    "patchlore__durations-1": [
        repro("from durations import parse_duration\n\n\ndef test_m():\n"
              "    assert parse_duration('2m') == 120\n"),
        fix("durations.py", 'UNITS = {"h": 3600, "m": 100, "s": 1}\n',
            'UNITS = {"h": 3600, "m": 60, "s": 1}\n')],
    "patchlore__flatten-1": [
        repro("from nested import flatten\n\n\ndef test_deep():\n"
              "    assert flatten([[[1]]]) == [1]\n"),
        fix("nested.py", "            out.extend(item)\n", "            out.extend(flatten(item))\n")],
}


def answers(ids):
    return [[text] for iid in ids for text in SCRIPT[iid]]


def eval_args(mirrors, out, stub, *extra):
    return ["eval", "run", "--dataset", str(DATASET), "--repos-dir", str(mirrors),
            "--output", str(out), "--model", "hosted_vllm/stub-coder", "--api-base",
            stub.api_base, "--samples", "1", "--rounds", "1", "--memory-mode", "off",
            "--sandbox", "local", "--filter", "chunks|durations|flatten", *extra]


def test_run_writes_predictions_that_grade_as_resolved(mirrors, tmp_path):
    ids = sorted(SCRIPT)
    with StubLLM(answers(ids)) as stub:
        res = run_cli(*eval_args(mirrors, tmp_path, stub, "--run-id", "r1"), timeout=600)
        # the agent never sees the test patch or the gold patch
        seen = json.dumps(stub.requests)
    assert res.returncode == 0, res.stderr
    assert "test_last_chunk_may_be_short" not in seen and "len(items), size)]" not in \
        seen.split("REPLACE")[0]
    preds = [json.loads(ln) for ln in (tmp_path / "r1" / "predictions.jsonl").read_text()
             .splitlines()]
    assert [p["instance_id"] for p in preds] == ids
    assert all(set(p) == {"instance_id", "model_name_or_path", "model_patch"} for p in preds)
    assert all("test_patchlore_repro" not in p["model_patch"] for p in preds)
    graded = run_cli("eval", "grade", "--dataset", str(DATASET), "--predictions",
                     str(tmp_path / "r1" / "predictions.jsonl"), "--repos-dir", str(mirrors),
                     "--output", str(tmp_path / "g"), "--sandbox", "local", "--json")
    report = json.loads(graded.stdout)
    assert report["resolved_ids"] == ids, report
    assert (tmp_path / "r1" / "instances" / ids[0] / "trajectory.jsonl").is_file()


def test_kill_9_then_resume_loses_and_duplicates_nothing(mirrors, tmp_path):
    ids = sorted(SCRIPT)
    with StubLLM(answers(ids)) as stub:
        env = {**os.environ, "NO_COLOR": "1"}
        proc = subprocess.Popen([sys.executable, "-m", "patchlore",
                                 *eval_args(mirrors, tmp_path, stub, "--run-id", "r2")],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        results = tmp_path / "r2" / "results.jsonl"
        deadline = time.monotonic() + 300
        while not (results.exists() and results.read_text().count("\n") >= 1):
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done_before = results.read_text().count("\n")
        assert 1 <= done_before < 3
        # the killed instance's answers may be spent: script what remains from scratch
        stub.script = answers(ids[done_before:])
        res = run_cli(*eval_args(mirrors, tmp_path, stub, "--run-id", "r2"), timeout=600)
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in results.read_text().splitlines()]
    assert sorted(r["instance_id"] for r in lines) == ids  # each exactly once
    preds = (tmp_path / "r2" / "predictions.jsonl").read_text().splitlines()
    assert sorted(json.loads(p)["instance_id"] for p in preds) == ids


def test_report_compares_runs_with_learning_curves(mirrors, tmp_path):
    ids = sorted(SCRIPT)
    for run_id, script in (("off", answers(ids)), ("on", answers(ids[:2]) + [["no idea"]])):
        with StubLLM(script) as stub:
            assert run_cli(*eval_args(mirrors, tmp_path, stub, "--run-id", run_id),
                           timeout=600).returncode == 0
        graded = run_cli("eval", "grade", "--dataset", str(DATASET), "--predictions",
                         str(tmp_path / run_id / "predictions.jsonl"), "--repos-dir",
                         str(mirrors), "--output", str(tmp_path / run_id / "grade"),
                         "--sandbox", "local")
        assert graded.returncode == 0, graded.stderr
    res = run_cli("eval", "report", str(tmp_path / "off"), str(tmp_path / "on"), "--format",
                  "json", "--plot", str(tmp_path / "curve.png"))
    assert res.returncode == 0, res.stderr
    rows = {r["run"]: r for r in json.loads(res.stdout)}
    assert rows["off"]["resolved"] == 3 and rows["off"]["learning_curve"] == [1.0, 1.0, 1.0]
    assert rows["on"]["resolved"] == 2 and rows["on"]["learning_curve"][-1] == 0.6667
    png = (tmp_path / "curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    md = run_cli("eval", "report", str(tmp_path / "off"), "--format", "markdown")
    assert "| off | 3 | 3 (100.0%) |" in md.stdout
    bad = run_cli("eval", "report", str(tmp_path))
    assert bad.returncode == 2 and "not an eval run" in bad.stderr


def routed(body: dict) -> list[str]:
    """Answers by content: which repo the prompt shows, and whether it asks for a repro."""
    prompt = body["messages"][-1]["content"]
    for iid, (repro_answer, fix_answer) in SCRIPT.items():
        module = fix_answer.split("\n", 1)[0]
        if f"### {module}" in prompt:
            return [repro_answer if "reproduce the bug" in prompt else fix_answer]
    return ["no idea"]


def test_ray_executor_on_local_ray(mirrors, tmp_path):
    with StubLLM(routed) as stub:
        res = run_cli(*eval_args(mirrors, tmp_path, stub, "--run-id", "ray", "--executor",
                                 "ray"), env={"RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    preds = [json.loads(x) for x in (tmp_path / "ray" / "predictions.jsonl").read_text()
             .splitlines()]
    assert sorted(p["instance_id"] for p in preds) == sorted(SCRIPT)
    assert all(p["model_patch"].startswith("diff --git a/") for p in preds), preds


def test_predictions_pass_swebench_s_own_loader(tmp_path):
    from patchlore.evals.run import DONE, Runner

    runner = Runner(tmp_path / "run", "hosted_vllm/some-model")
    for i, iid in enumerate(sorted(SCRIPT)):
        runner.record({"instance_id": iid, "status": DONE, "model_patch": f"--- a/x{i}\n"})
    code = ("import json, sys\n"
            "from swebench.harness.utils import get_predictions_from_file\n"
            "preds = get_predictions_from_file(sys.argv[1], 'unused', 'test')\n"
            "# the keys swebench.harness.run_evaluation reads from each prediction\n"
            "assert all({'instance_id', 'model_name_or_path', 'model_patch'} <= set(p)"
            " for p in preds)\n"
            "print(json.dumps(preds))")
    out = subprocess.run([sys.executable, "-c", code,
                          str(tmp_path / "run" / "predictions.jsonl")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    preds = json.loads(out.stdout.strip().splitlines()[-1])
    assert [p["instance_id"] for p in preds] == sorted(SCRIPT)
    assert preds[0]["model_name_or_path"] == "hosted_vllm/some-model"


def test_run_inside_per_instance_images(mirrors, tmp_path, docker_ready):
    """The agent works in an image that holds the repo (SWE-bench's layout), not a copy."""
    ids = ["patchlore__chunks-1", "patchlore__durations-1"]
    marker = {"test_only_in_image.py": "def test_marker():\n    assert True\n"}
    tags = [make_testbed_image(mirrors / i.replace("-1", ""), "patchlore-test-run:"
                          + i.replace("__", "_1776_"), tmp_path / i, marker) for i in ids]
    try:
        with StubLLM(answers(ids)) as stub:
            args = eval_args(mirrors, tmp_path, stub, "--run-id", "img")
            args[args.index("local")] = "docker"
            args[args.index("chunks|durations|flatten")] = "chunks|durations"
            res = run_cli(*args, "--image-template", "patchlore-test-run:{id_1776}",
                          timeout=600)
        assert res.returncode == 0, res.stderr
        for iid in ids:  # the tests ran where only the image's file exists
            events = (tmp_path / "img" / "instances" / iid / "trajectory.jsonl").read_text()
            assert "test_only_in_image.py::test_marker" in events
        graded = run_cli("eval", "grade", "--dataset", str(DATASET), "--predictions",
                         str(tmp_path / "img" / "predictions.jsonl"), "--repos-dir",
                         str(mirrors), "--output", str(tmp_path / "g"), "--image-template",
                         "patchlore-test-run:{id_1776}", "--json")
        assert json.loads(graded.stdout)["resolved_ids"] == ids, graded.stderr
    finally:
        remove_images(tags)


def test_one_instance_s_docker_error_is_its_own_and_resume_retries_it(mirrors, tmp_path,
                                                                      docker_ready):
    """A Docker API error (an image name the engine rejects) ends that instance, not the run."""
    rows = {json.loads(ln)["instance_id"]: json.loads(ln)
            for ln in DATASET.read_text().splitlines()}
    bad = {**rows["patchlore__durations-1"], "image": "Not A Valid Image Name!"}
    dataset = tmp_path / "d.jsonl"
    dataset.write_text(json.dumps(bad) + "\n" + json.dumps(rows["patchlore__chunks-1"]) + "\n")
    args = ["eval", "run", "--dataset", str(dataset), "--repos-dir", str(mirrors), "--output",
            str(tmp_path), "--run-id", "r", "--samples", "1", "--rounds", "1",
            "--memory-mode", "off", "--sandbox", "docker", "--model", "hosted_vllm/stub-coder"]
    with StubLLM(answers(["patchlore__chunks-1"])) as stub:
        res = run_cli(*args, "--api-base", stub.api_base, timeout=600)
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    results = {r["instance_id"]: r for r in map(json.loads, (tmp_path / "r" / "results.jsonl")
                                                .read_text().splitlines())}
    assert results["patchlore__chunks-1"]["outcome"] == "verified"  # the run went on
    err = results["patchlore__durations-1"]
    assert err["status"] == "error" and err["reason"].startswith("APIError: ")
    assert "invalid reference format" in (tmp_path / "r" / "instances" /
                                          "patchlore__durations-1" / "traceback.txt").read_text()
    assert "rerun with --run-id r" in res.stderr
    dataset.write_text(json.dumps(rows["patchlore__durations-1"]) + "\n"
                       + json.dumps(rows["patchlore__chunks-1"]) + "\n")
    with StubLLM(answers(["patchlore__durations-1"])) as stub:  # chunks is not asked again
        res = run_cli(*args, "--api-base", stub.api_base, timeout=600)
    assert res.returncode == 0, res.stderr
    preds = (tmp_path / "r" / "predictions.jsonl").read_text().splitlines()
    assert sorted(json.loads(p)["instance_id"] for p in preds) == [
        "patchlore__chunks-1", "patchlore__durations-1"]
