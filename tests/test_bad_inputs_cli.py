"""The bad-input probe, as rows: each bad input gets one `error:` line (or the right behaviour),
its documented exit code, and loses nothing. Real CLI processes, a real model server over HTTP
(tests/stub_llm.py), real sandboxes.

Simple rows are (args, exit code, words of the error line); the rest are functions, one per
probe case, listed in CASES."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import CALC, IMAGE, UNPRIVILEGED, make_repo, run_cli, tree_digest
from slow_engine import SlowEngine
from stub_llm import Raw, StubLLM
from test_lifecycle import owned_by, wait_for
from patchlore.sandbox.docker_backend import docker_client

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT / "examples" / "minibench" / "minibench.jsonl"
ROWS = [json.loads(line) for line in DATASET.read_text().splitlines()]
CHUNKS, DURATIONS = "patchlore__chunks-1", "patchlore__durations-1"
NO_CHOICES = {"id": "x", "object": "chat.completion", "created": 1, "model": "stub-coder",
              "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 0,
                                       "total_tokens": 1}}


def one_error_line(res: subprocess.CompletedProcess, *words: str) -> str:
    lines = [ln for ln in res.stderr.strip().splitlines() if not ln.startswith("warning:")]
    assert "Traceback" not in res.stderr + res.stdout, res.stderr
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, res.stderr
    for w in words:
        assert w in errors[0], errors[0]
    return errors[0]


# --- #10: numbers and choices that make no sense, on flags, in files, in the environment ---
FLAG_ROWS = [
    (["fix", "--timeout", "-5"], "--timeout", "-5.0 must be a positive number"),
    (["fix", "--timeout", "0"], "--timeout", "0.0 must be a positive number"),
    (["fix", "--timeout", "nan"], "--timeout", "nan must be a positive number"),
    (["fix", "--max-calls", "-1"], "--max-calls", "-1 is not in the range"),
    (["fix", "--max-cost", "-1"], "--max-cost", "must be a positive number"),
    (["fix", "--samples", "0"], "--samples", "0 is not in the range"),
    (["fix", "--memory-mode", "onlin"], "--memory-mode", "did you mean 'online'"),
    (["check", "--budget", "0", "--", "true"], "--budget", "must be a positive number"),
    (["check", "--memory-mode", "onlin", "--", "true"], "--memory-mode", "is not one of"),
    (["sandbox", "exec", "--timeout", "-5", "--", "true"], "--timeout", "must be a positive"),
    (["eval", "grade", "--dataset", str(DATASET), "--predictions", "gold", "--timeout", "0"],
     "--timeout", "must be a positive number"),
    (["eval", "grade", "--dataset", str(DATASET), "--predictions", "gold", "--slice", "x"],
     "--slice", "not A:B"),
    (["eval", "grade", "--dataset", str(DATASET), "--predictions", "gold", "--image-template",
      "{nokey}"], "--image-template", "'{nokey}' is not a template of {instance_id}"),
    (["eval", "run", "--dataset", str(DATASET), "--repos-dir", "m", "--image-template",
      "img:{0}"], "--image-template", "is not a template"),
]
SETTING_ROWS = [  # (the repo's .patchlore.toml, or None; the environment; words)
    ("timeout = -5\n", {}, ".patchlore.toml: timeout = -5.0 must be a positive number"),
    ("timeout = 0\n", {}, ".patchlore.toml: timeout = 0.0 must be a positive number"),
    ("timeout = nan\n", {}, ".patchlore.toml: timeout = nan must be a positive number"),
    ('memory_mode = "onlin"\n', {}, ".patchlore.toml: memory_mode = 'onlin' is not one of"),
    (None, {"PATCHLORE_MEMORY_MODE": "onlin"}, "$PATCHLORE_MEMORY_MODE: memory_mode = 'onlin'"),
    (None, {"PATCHLORE_SANDBOX": "podman"}, "$PATCHLORE_SANDBOX: sandbox = 'podman'"),
]


@pytest.mark.parametrize("args, flag, words", FLAG_ROWS, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else None)
def test_a_bad_flag_value_is_one_line_exit_2(args, flag, words, calc_repo):
    res = run_cli(*args, cwd=calc_repo)
    assert res.returncode == 2, res.stderr
    one_error_line(res, flag, words)
    assert "Usage:" not in res.stderr


@pytest.mark.parametrize("toml, env, words", SETTING_ROWS)
def test_a_bad_setting_is_one_line_exit_2_before_anything_runs(toml, env, words, calc_repo):
    if toml:
        (calc_repo / ".patchlore.toml").write_text(toml)
    before = tree_digest(calc_repo)
    with StubLLM() as stub:
        res = run_cli("fix", "--repo", str(calc_repo), "--sandbox", "local", "--api-base",
                      stub.api_base, "--model", "hosted_vllm/stub-coder", env=env)
        assert stub.requests == []
    assert res.returncode == 2, res.stderr
    one_error_line(res, words)
    assert tree_digest(calc_repo) == before


# --- cases that need more than a command line ---

def empty_choices(tmp_path, mirrors):
    """#4: a model reply with no choices: a clear error, and the run record still says how
    the run ended."""
    repo = make_repo(tmp_path / "calc", CALC)
    before = tree_digest(repo)
    with StubLLM([NO_CHOICES]) as stub:
        res = run_cli("fix", "--repo", str(repo), "--sandbox", "local", "--memory-mode", "off",
                      "--model", "hosted_vllm/stub-coder", "--api-base", stub.api_base,
                      "--samples", "1", "--rounds", "1")
    assert res.returncode == 2
    one_error_line(res, "answered with no choices")
    (result,) = (repo / ".patchlore" / "runs").glob("*/result.json")
    recorded = json.loads(result.read_text())
    assert recorded["status"] == "error" and "no choices" in recorded["message"]
    assert {k: v for k, v in tree_digest(repo).items() if not k.startswith(".patchlore")} \
        == before


def unwritable_output(tmp_path, mirrors):
    """#7: an --output that cannot be written is said before the run starts."""
    repo = make_repo(tmp_path / "calc", CALC)
    for output in (tmp_path / "no-such-dir" / "fix.diff", tmp_path):  # missing dir; a dir
        with StubLLM() as stub:
            res = run_cli("fix", "--repo", str(repo), "--sandbox", "local", "--output",
                          str(output), "--model", "hosted_vllm/stub-coder", "--api-base",
                          stub.api_base)
            assert stub.requests == []  # nothing ran
        assert res.returncode == 2
        one_error_line(res, str(output), "cannot be written")
    assert not (tmp_path / "no-such-dir").exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    res = run_cli("eval", "run", "--dataset", str(DATASET), "--repos-dir", str(mirrors),
                  "--output", str(blocker / "runs"), "--sandbox", "local")
    assert res.returncode == 2
    one_error_line(res, "--output", "cannot be written")


def bad_predictions(tmp_path, mirrors):
    """#8: a non-string model_patch is that row's error (report.json still written); unknown
    and duplicate ids are said once per id, and which duplicate wins."""
    gold = {r["instance_id"]: r["patch"] for r in ROWS}
    rows = [{"instance_id": CHUNKS, "model_patch": 42},
            {"instance_id": "nobody__nothing-1", "model_patch": ""},
            {"instance_id": DURATIONS, "model_patch": ""},
            {"instance_id": "nobody__nothing-1", "model_patch": ""},
            {"instance_id": DURATIONS, "model_patch": gold[DURATIONS]}]
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"model_name_or_path": "m", **r}) + "\n" for r in rows))
    res = run_cli("eval", "grade", "--dataset", str(DATASET), "--predictions", str(preds),
                  "--repos-dir", str(mirrors), "--output", str(tmp_path / "g"), "--sandbox",
                  "local", timeout=300)
    assert res.returncode == 1, res.stderr  # graded what it could; one row is an error
    assert "Traceback" not in res.stderr
    report = json.loads((tmp_path / "g" / "report.json").read_text())
    assert report["error_ids"] == [CHUNKS] and report["resolved_ids"] == [DURATIONS]
    reason = json.loads((tmp_path / "g" / "logs" / CHUNKS / "report.json").read_text())
    assert reason["reason"] == "preds.jsonl row 1: model_patch is a int, not a string"
    warnings = [ln for ln in res.stderr.splitlines() if ln.startswith("warning:")]
    assert [w for w in warnings if "nobody__nothing-1" in w] == [
        "warning: preds.jsonl row 4: nobody__nothing-1 is not in the dataset: not graded"]
    assert [w for w in warnings if DURATIONS in w] == [
        f"warning: preds.jsonl: 2 predictions for {DURATIONS} (rows 3, 5): the last, row 5, "
        "is graded"]


def grade_resumes(tmp_path, mirrors):
    """#12: eval grade rerun into the same output keeps what it graded; a changed
    prediction is graded again."""
    gold = {r["instance_id"]: r["patch"] for r in ROWS}
    preds = tmp_path / "preds.jsonl"

    def grade(patches):
        preds.write_text("".join(json.dumps({"instance_id": i, "model_patch": p}) + "\n"
                                 for i, p in patches.items()))
        return run_cli("eval", "grade", "--dataset", str(DATASET), "--predictions", str(preds),
                       "--repos-dir", str(mirrors), "--output", str(tmp_path / "g"),
                       "--sandbox", "local", "--json", timeout=300)

    first = grade({CHUNKS: gold[CHUNKS], DURATIONS: gold[DURATIONS]})
    assert first.returncode == 0 and json.loads(first.stdout)["resolved_instances"] == 2
    again = grade({CHUNKS: gold[CHUNKS], DURATIONS: gold[DURATIONS]})
    assert "2 instance(s) already graded" in again.stderr and f"{CHUNKS}:" not in again.stderr
    assert json.loads(again.stdout)["resolved_ids"] == [CHUNKS, DURATIONS]
    changed = grade({CHUNKS: gold[CHUNKS], DURATIONS: ""})
    assert "1 instance(s) already graded" in changed.stderr
    assert f"{DURATIONS}: empty_patch" in changed.stderr
    assert json.loads(changed.stdout)["empty_patch_ids"] == [DURATIONS]


def running(pid: int, command: str) -> int:
    """How many of the process's sandboxes run `command` (a part of a command line)."""
    count = 0
    for cid in owned_by(pid):
        try:
            procs = docker_client().containers.get(cid).top(ps_args="-eo pid,args")["Processes"]
        except Exception:  # noqa: BLE001 (created but not started yet, or gone)
            continue
        count += any(command in " ".join(p) for p in procs or [])
    return count


def interrupted(tmp_path, mirrors):
    """#12: Ctrl-C and SIGTERM say so and exit 130 / 143, in a command, in a batch and while
    `fix` verifies candidates in parallel, at once; no container is left."""
    repo = make_repo(tmp_path / "calc", CALC)
    slow = {**ROWS[0], "instance_id": "patchlore__chunks-slow"}
    dataset = tmp_path / "slow.jsonl"
    dataset.write_text(json.dumps(slow) + "\n")
    # fix: two candidates whose tests never end, verified in two sandboxes at once
    hang = "calc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    while True:\n        {}\n>>>>>>> REPLACE\n"
    replay = tmp_path / "hangs.jsonl"
    replay.write_text(json.dumps({"kind": "model_reply",
                                  "texts": [hang.format("pass"), hang.format("a += 0")]}) + "\n")
    commands = {  # name: (args, a process each of its sandboxes runs in its slow part, sandboxes)
        "sandbox exec": (["sandbox", "exec", "--repo", str(repo), "--sandbox", "docker", "--",
                          "sleep", "600"], "sleep 600", 1),
        "eval grade": (["eval", "grade", "--dataset", str(dataset), "--predictions", "gold",
                        "--repos-dir", str(mirrors), "--output", str(tmp_path / "g"),
                        "--sandbox", "docker", "--test-cmd", "sleep 600;", "--workers", "2"],
                       "sleep 600", 1),
        "fix": (["fix", "--repo", str(repo), "--sandbox", "docker", "--model", f"replay:{replay}",
                 "--samples", "2", "--workers", "2", "--rounds", "1", "--memory-mode", "off"],
                "pytest", 2),
    }
    for name, (args, busy, boxes) in commands.items():
        for sig, code, how in ((signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")):
            proc = subprocess.Popen([sys.executable, "-m", "patchlore", *args],
                                    env={**os.environ, "PATCHLORE_IMAGE": IMAGE, "NO_COLOR": "1",
                                         "PATCHLORE_TEST_TIME_LIMIT": "0"},
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                # into the slow part, however long a loaded engine takes to get there
                assert wait_for(lambda: running(proc.pid, busy) >= boxes
                                or proc.poll() is not None, 120)
                assert proc.poll() is None, (name, proc.communicate())
                proc.send_signal(sig)
                # not after the running commands: they end at 600 s at the soonest (the run's
                # limit), long after this wait gives up
                _, err = proc.communicate(timeout=180)
            finally:
                proc.kill()
            assert proc.returncode == code, (name, how, err)
            assert f"interrupted ({how})" in err and "Traceback" not in err, (name, err)
            assert owned_by(proc.pid) == [], name
    # the interrupted instance is not recorded as graded: a rerun grades it
    assert not (tmp_path / "g" / "logs" / slow["instance_id"] / "report.json").exists()


def interrupted_unread(tmp_path, mirrors):
    """An interrupt when nobody reads the output any more (the parent that piped it died first,
    as when a CI job is cancelled): the run still removes its containers and exits 143 at once,
    instead of failing on the message and then waiting for its workers' test commands."""
    slow = {**ROWS[0], "instance_id": "patchlore__chunks-slow"}
    dataset = tmp_path / "slow.jsonl"
    dataset.write_text(json.dumps(slow) + "\n")
    proc = subprocess.Popen([sys.executable, "-m", "patchlore", "eval", "grade", "--dataset",
                             str(dataset), "--predictions", "gold", "--repos-dir", str(mirrors),
                             "--output", str(tmp_path / "g"), "--sandbox", "docker",
                             "--test-cmd", "sleep 600;", "--workers", "2"],
                            env={**os.environ, "PATCHLORE_IMAGE": IMAGE, "NO_COLOR": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: running(proc.pid, "sleep 600") >= 1 or proc.poll() is not None,
                        120)
        assert proc.poll() is None, proc.communicate()
        proc.stdout.close()
        proc.stderr.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 143  # not after `sleep 600`
    finally:
        proc.kill()
    assert owned_by(proc.pid) == []


def leftovers_of_kill_9(tmp_path, mirrors):
    """#12: after kill -9, the next batch removes the scratch directory and the container the
    dead run left, and never those of a live one."""
    slow = {**ROWS[0], "instance_id": "patchlore__chunks-slow"}
    dataset = tmp_path / "slow.jsonl"
    dataset.write_text(json.dumps(slow) + "\n")
    args = ["eval", "grade", "--dataset", str(dataset), "--predictions", "gold",
            "--repos-dir", str(mirrors), "--sandbox", "docker", "--test-cmd", "sleep 120;"]
    proc = subprocess.Popen([sys.executable, "-m", "patchlore", *args, "--output",
                             str(tmp_path / "g1")],
                            env={**os.environ, "PATCHLORE_IMAGE": IMAGE, "NO_COLOR": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    live = tempfile.mkdtemp(prefix=f"patchlore-grade-{os.getpid()}-")  # a live owner's
    try:
        assert wait_for(lambda: owned_by(proc.pid), 120)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        scratch = list(Path(tempfile.gettempdir()).glob(f"patchlore-grade-{proc.pid}-*"))
        assert scratch and owned_by(proc.pid)  # what kill -9 leaves behind
        res = run_cli(*args, "--output", str(tmp_path / "g2"), "--test-cmd", "true",
                      timeout=300)
        assert "removed" in res.stderr and "leftover" in res.stderr, res.stderr
        assert not any(p.exists() for p in scratch) and not owned_by(proc.pid)
        assert Path(live).is_dir()
    finally:
        proc.kill()
        os.rmdir(live)


CASES = [  # (probe case, needs Docker)
    (empty_choices, False),
    (unwritable_output, False),
    (bad_predictions, False),
    (grade_resumes, False),
    (interrupted, True),
    (interrupted_unread, True),
    (leftovers_of_kill_9, True),
]


@pytest.mark.parametrize("case, docker", CASES, ids=[c.__name__ for c, _ in CASES])
def test_probe_case(case, docker, tmp_path, mirrors, request):
    if docker:
        request.getfixturevalue("docker_ready")
    case(tmp_path, mirrors)


# --- issue 19: the outside probe's defects, one row each -----------------------------------
# A row: the command ({repo}: a fresh calc repo whose tests fail, {mem}: a seeded memory store,
# {tmp}: the test's folder, {ds}: the minibench dataset, {api}: the stub model server answering
# `model`), what `prep` writes first, the exit code and words of the one `error:` line (or, for
# a row that is `plain`, of its output, with no error line). Afterwards the repo (but for the
# run records in its .patchlore/) and the store are as they were, and nothing appeared beside
# {tmp} (an escaping id would land there).

def _dataset_with(tmp: Path, **changes) -> None:
    (tmp / "d.jsonl").write_text(json.dumps({**ROWS[0], **changes}) + "\n")


def _twice(tmp: Path) -> None:
    (tmp / "d.jsonl").write_text((json.dumps(ROWS[0]) + "\n") * 2)


def _invalid_rows(tmp: Path) -> None:
    (tmp / "d.jsonl").write_text('{"instance_id": "a"}\n[1, 2]\n')


def _file(name: str, data: bytes):
    return lambda tmp: (tmp / name).write_bytes(data)


def _run_record(name: str, text: str):
    def prep(tmp: Path) -> None:
        run = tmp / "calc" / ".patchlore" / "runs" / "20260101-000000-aaaa"
        run.mkdir(parents=True)
        (run / name).write_text(text)
    return prep


def _eval_run(tmp: Path) -> None:
    (tmp / "run").mkdir()
    (tmp / "run" / "results.jsonl").write_text('{"instance_id": "a__b-1"}\n')


def _read_only(tmp: Path) -> None:
    """The calc repo as a read-only CI checkout has it (the row runs UNPRIVILEGED)."""
    for p in [tmp / "calc", *(tmp / "calc").rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)


def _read_only_package(tmp: Path) -> None:
    """A checkout whose top can be written (so --apply is not refused up front) but whose
    package folder cannot: `git apply` itself fails."""
    make_repo(tmp / "tiny", {"pkg/__init__.py": "", "pkg/a.py": ONE_LETTER["a.py"],
                             "tests/test_a.py": ONE_LETTER["tests/test_a.py"].replace(
                                 "from a import", "from pkg.a import")})
    for p in [tmp / "tiny" / "pkg", *(tmp / "tiny" / "pkg").iterdir()]:
        p.chmod(p.stat().st_mode & ~0o222)


def _tiny(files: dict[str, str], commit: bool = True):
    """A repo with little or no code at {tmp}/tiny (the issue's small-repo traceback)."""
    return lambda tmp: make_repo(tmp / "tiny", files, commit=commit)


ONE_LETTER = {"a.py": "def f():\n    return 1\n",
              "tests/test_a.py": "from a import f\n\n\ndef test_f():\n    assert f() == 2\n"}
TO_TWO = "a.py\n<<<<<<< SEARCH\n    return 1\n=======\n    return 2\n>>>>>>> REPLACE\n"
TO_TWO_IN_PKG = "pkg/" + TO_TWO
LOCALIZE = ("localize", "--repo", "{tmp}/tiny", "--issue", "f returns the wrong value", "--json")
FIX_TINY = ("fix", "--repo", "{tmp}/tiny", "--sandbox", "local", "--memory-mode", "off",
            "--model", "hosted_vllm/stub-coder", "--api-base", "{api}", "--samples", "1",
            "--test-cmd", "python3 -m pytest -q tests")


def _damaged_index(tmp: Path) -> None:
    (tmp / "memory" / "chroma" / "chroma.sqlite3").write_bytes(b"not a database" * 100)


FIXED = "calc.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n"
BINARY = b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 40


@dataclass
class Row:
    id: str
    args: tuple[str, ...]
    code: int
    says: str  # in the one error line (code 0: in the output, and no error line)
    prep: Callable[[Path], None] | None = None
    escape: str = ""  # a path (under {tmp}/..) the command must not create
    env: dict[str, str] = field(default_factory=dict)
    model: list | None = None  # the stub model server's script, served at {api}
    plain: bool = False  # ends with a result, not an error line (exit 0, or 1: not fixed)
    docker: bool = False  # needs the engine (skipped without one, failed under CI's REQUIRE)
    unprivileged: bool = False  # run without root's file capabilities (see UNPRIVILEGED)
    reindexes: bool = False  # rebuilds the store's index: only its log must stay as it was
    also: tuple[str, ...] = ()  # more words its output must hold
    makes: str = ""  # a file the command must write


PROBE_ROWS = [
    # 1. data loss: an output that is one of the inputs
    Row("export-onto-the-store-log", ("memory", "export", "{mem}/log.jsonl"), 2,
        "would overwrite the memory store"),
    Row("export-into-the-store", ("memory", "export", "{mem}/chroma/x.jsonl"), 2,
        "would overwrite the memory store"),
    # 2. writes outside the output folder: untrusted ids
    Row("grade-instance-id-dot-dot", ("eval", "grade", "--dataset", "{tmp}/d.jsonl",
                                      "--predictions", "gold", "--output", "{tmp}/out"), 2,
        "no valid instance", lambda t: _dataset_with(t, instance_id="../../escaped-dd"),
        escape="escaped-dd"),
    Row("grade-instance-id-absolute", ("eval", "grade", "--dataset", "{tmp}/d.jsonl",
                                       "--predictions", "gold", "--output", "{tmp}/out"), 2,
        "no valid instance", lambda t: _dataset_with(t, instance_id="{tmp}/escaped-abs"),
        escape="{tmp}/escaped-abs"),
    Row("run-instance-id-dot-dot", ("eval", "run", "--dataset", "{tmp}/d.jsonl", "--repos-dir",
                                    "{tmp}/m", "--output", "{tmp}/out"), 2, "no valid instance",
        lambda t: _dataset_with(t, instance_id="../../escaped-er"), escape="escaped-er"),
    Row("run-id-dot-dot", ("eval", "run", "--dataset", "{ds}", "--repos-dir", "{tmp}/m",
                           "--run-id", "../../escaped-run", "--output", "{tmp}/out"), 2,
        "--run-id: '../../escaped-run' is not a plain name", escape="escaped-run"),
    Row("run-id-absolute", ("eval", "run", "--dataset", "{ds}", "--repos-dir", "{tmp}/m",
                            "--run-id", "{tmp}/escaped-run2", "--output", "{tmp}/out"), 2,
        "is not a plain name", escape="{tmp}/escaped-run2"),
    # 3. false green: an empty test command checks nothing
    Row("check-empty-command", ("check", "--repo", "{repo}", "--", ""), 2, "is empty"),
    Row("fix-empty-test-cmd", ("fix", "--repo", "{repo}", "--sandbox", "local",
                               "--test-cmd", ""), 2, "--test-cmd: test_cmd = '' is empty"),
    Row("check-blank-command", ("check", "--repo", "{repo}", "--", "   "), 2, "is empty"),
    Row("fix-blank-test-cmd", ("fix", "--repo", "{repo}", "--sandbox", "local",
                               "--test-cmd", "   "), 2, "is empty"),
    # 4. counted twice, and silent nothing
    Row("grade-repeated-id-then-nothing", ("eval", "grade", "--dataset", "{tmp}/d.jsonl",
                                           "--predictions", "{tmp}/p.jsonl", "--output",
                                           "{tmp}/out"), 2, "no prediction for any",
        lambda t: (_twice(t), (t / "p.jsonl").write_text(""))),
    Row("grade-repeated-id-counted-once", ("eval", "grade", "--dataset", "{tmp}/d.jsonl",
                                           "--predictions", "gold", "--repos-dir", "{mirrors}",
                                           "--sandbox", "local", "--output", "{tmp}/out",
                                           "--json"), 0,
        "row 2 (patchlore__chunks-1): instance_id repeats row 1", _twice,
        also=('"resolved_instances": 1,', '"resolved_ids": [\n    "patchlore__chunks-1"\n  ],')),
    Row("grade-empty-dataset", ("eval", "grade", "--dataset", "{tmp}/d.jsonl",
                                "--predictions", "gold", "--output", "{tmp}/out"), 2,
        "no valid instance (it is empty)", _file("d.jsonl", b"")),
    Row("grade-all-invalid-rows", ("eval", "grade", "--dataset", "{tmp}/d.jsonl",
                                   "--predictions", "gold", "--output", "{tmp}/out"), 2,
        "no valid instance (2 row(s) skipped", _invalid_rows),
    Row("grade-instances-none-match", ("eval", "grade", "--dataset", "{ds}", "--predictions",
                                       "gold", "--instances", "nope-1", "--output",
                                       "{tmp}/out"), 2, "--instances nope-1: none is in"),
    Row("grade-filter-none-match", ("eval", "grade", "--dataset", "{ds}", "--predictions",
                                    "gold", "--filter", "^zzz", "--output", "{tmp}/out"), 2,
        "--filter '^zzz': matches none of the"),
    Row("grade-slice-backwards", ("eval", "grade", "--dataset", "{ds}", "--predictions",
                                  "gold", "--slice", "5:1", "--output", "{tmp}/out"), 2,
        "--slice 5:1: selects none"),
    Row("run-filter-none-match", ("eval", "run", "--dataset", "{ds}", "--repos-dir", "{tmp}/m",
                                  "--filter", "^zzz", "--output", "{tmp}/out"), 2,
        "matches none of the"),
    # 6. values the README calls errors
    Row("config-python-2.7", ("config", "show", "--repo", "{repo}"), 2,
        "python = '2.7' is not one of auto", _file("calc/.patchlore.toml", b'python = "2.7"\n')),
    Row("config-deps-date-yesterday", ("config", "show", "--repo", "{repo}"), 2,
        "deps_date = 'yesterday' is not a day",
        _file("calc/.patchlore.toml", b'deps_date = "yesterday"\n')),
    Row("mem-limit-1k", ("sandbox", "exec", "--repo", "{repo}", "--", "true"), 2,
        "$PATCHLORE_MEM_LIMIT: mem_limit = '1k' is not a size of 6m or more",
        env={"PATCHLORE_MEM_LIMIT": "1k"}),
    Row("fix-output-onto-a-repo-file", ("fix", "--repo", "{repo}", "--sandbox", "local",
                                        "--output", "{repo}/calc.py", "--apply"), 2,
        "--output {repo}/calc.py: would overwrite a file of the repo"),
    Row("memory-list-kind-bogus", ("memory", "list", "--kind", "bogus"), 2,
        "--kind 'bogus': use all, episodes or insights"),
    Row("prune-negative-days", ("memory", "prune", "--older-than", "-5"), 2,
        "--older-than"),
    Row("prune-nan-days", ("memory", "prune", "--older-than", "nan"), 2,
        "nan must be a positive number"),
    # 7. the model server answers, but not as an OpenAI-compatible API does
    Row("model-http-500", ("model", "check", "--model", "hosted_vllm/stub-coder", "--api-base",
                           "{api}"), 2, "failed with HTTP 500 (retried 3 times)",
        model=[500] * 4),
    Row("model-http-502-html", ("model", "check", "--model", "hosted_vllm/stub-coder",
                                "--api-base", "{api}"), 2,
        "failed with HTTP 502 (retried 3 times): 502 Bad Gateway (check the server's log",
        model=[Raw(b"<html><body><h1>502 Bad Gateway</h1></body></html>", 502, "text/html")] * 4),
    Row("model-invalid-json", ("model", "check", "--model", "hosted_vllm/stub-coder",
                               "--api-base", "{api}"), 2,
        "answered with something that is not JSON: '{\"id\": \"x\", \"choices\": [' (--api-base "
        "must be the server's OpenAI-compatible endpoint",
        model=[Raw(b'{"id": "x", "choices": [')]),
    Row("fix-model-html-page", ("fix", "--repo", "{repo}", "--sandbox", "local", "--memory-mode",
                                "off", "--model", "hosted_vllm/stub-coder", "--api-base", "{api}",
                                "--samples", "1", "--rounds", "1"), 2,
        "not JSON: 'Sign in Welcome' (--api-base must be the server's OpenAI-compatible endpoint",
        model=[Raw(b"<html><head><title>Sign in</title></head><body><h1>Welcome</h1></body>"
                   b"</html>", 200, "text/html")]),
    Row("fix-api-base-not-a-url", ("fix", "--repo", "{repo}", "--sandbox", "local",
                                   "--api-base", "not a url"), 2,
        "--api-base: api_base = 'not a url' is not an http:// or https:// URL"),
    # 5. tracebacks: a read-only checkout (the run records go to the user's state dir; the
    # tree is written only by --apply, and that failing is one line naming the patch)
    Row("check-read-only-checkout", ("check", "--repo", "{repo}", "--sandbox", "local",
                                     "--memory-mode", "off", "--model", "hosted_vllm/stub-coder",
                                     "--api-base", "{api}", "--samples", "1", "--",
                                     "python3 -m pytest -q -p no:cacheprovider"), 1,
        "verified patch written to {tmp}/xdg-state/patchlore/repos/calc-", _read_only,
        model=[[FIXED]] * 2, plain=True, unprivileged=True),
    Row("fix-apply-read-only-checkout", ("fix", "--repo", "{repo}", "--sandbox", "local",
                                         "--memory-mode", "off", "--model",
                                         "hosted_vllm/stub-coder", "--api-base", "{api}",
                                         "--samples", "1", "--apply"), 2,
        "--apply: {repo} cannot be written, so no fix could be applied", _read_only,
        model=[[FIXED]] * 2, unprivileged=True),
    # the small-repo traceback and 5.: a repo with little or no code, or no commits, localizes
    # to what there is, and fix goes on
    Row("localize-one-chunk-no-searchable-word", LOCALIZE, 0, '"path": "a.py"',
        _tiny(ONE_LETTER), plain=True),
    Row("localize-all-stop-words", LOCALIZE, 0, '"path": "a.py"',
        _tiny({"a.py": "def a(self):\n    return None\n"}), plain=True),
    Row("localize-no-commits", LOCALIZE, 0, '"path": "a.py"', _tiny(ONE_LETTER, commit=False),
        plain=True),
    Row("localize-no-source-files", LOCALIZE, 0, '"snippets": []', _tiny({"data.bin": "x\n"}),
        plain=True),
    Row("localize-only-non-python", LOCALIZE, 0, '"path": "app.js"',
        _tiny({"app.js": "function f() { return 1 }\n"}), plain=True),
    Row("localize-empty-repo", LOCALIZE, 0, '"snippets": []', _tiny({}, commit=False),
        plain=True),
    Row("fix-one-function-repo", FIX_TINY, 0, "+    return 2", _tiny(ONE_LETTER),
        model=[[TO_TWO]] * 2, plain=True),
    Row("fix-no-commits", FIX_TINY, 0, "+    return 2", _tiny(ONE_LETTER, commit=False),
        model=[[TO_TWO]] * 2, plain=True),
    # 5. tracebacks: the command meant to repair a damaged index repairs it
    Row("memory-reindex-damaged-index", ("memory", "reindex"), 0,
        "cannot be opened (InternalError: error returned from database: (code: 26) file is not "
        "a database): built anew from the log\nreindexed 3 record(s)", _damaged_index,
        plain=True, reindexes=True),
    Row("fix-apply-git-apply-fails", (*FIX_TINY, "--apply"), 2,
        "not applied: git apply failed: unable to unlink 'pkg/a.py': Permission denied; unable "
        "to write file 'pkg/a.py' mode 100644: Permission denied (the verified patch is in "
        "{tmp}/tiny/.patchlore/runs/", _read_only_package, model=[[TO_TWO_IN_PKG]] * 2,
        unprivileged=True),
    # 5. tracebacks: files that are not what they should be
    Row("config-not-utf8", ("config", "show", "--repo", "{repo}"), 2,
        "not valid TOML (not UTF-8 text)", _file("calc/.patchlore.toml", b"timeout = \xff\n")),
    Row("grade-binary-dataset", ("eval", "grade", "--dataset", "{tmp}/d.jsonl", "--predictions",
                                 "gold", "--output", "{tmp}/out"), 2,
        "--dataset {tmp}/d.jsonl: not a UTF-8 text file", _file("d.jsonl", BINARY)),
    Row("grade-binary-predictions", ("eval", "grade", "--dataset", "{ds}", "--predictions",
                                     "{tmp}/p.jsonl", "--output", "{tmp}/out"), 2,
        "--predictions {tmp}/p.jsonl: not a UTF-8 text file", _file("p.jsonl", BINARY)),
    Row("grade-binary-parquet", ("eval", "grade", "--dataset", "{tmp}/d.parquet",
                                 "--predictions", "gold", "--output", "{tmp}/out"), 2,
        "not a parquet file", _file("d.parquet", BINARY)),
    Row("grade-missing-predictions", ("eval", "grade", "--dataset", "{ds}", "--predictions",
                                      "{tmp}/nope.jsonl", "--output", "{tmp}/out"), 2,
        "--predictions {tmp}/nope.jsonl: no such file"),
    Row("runs-list-torn-result", ("runs", "list", "--repo", "{repo}"), 0, "damaged",
        _run_record("result.json", '{"status": "verif')),
    Row("runs-show-torn-trajectory", ("runs", "show", "2026", "--repo", "{repo}"), 0,
        "1 damaged line(s) skipped",
        _run_record("trajectory.jsonl", '{"kind": "run_start", "t": 0, "repo": "r", "test_cmd":'
                    ' "t", "model": "m"}\n{"kind": "resu')),
    Row("runs-show-event-of-another-shape", ("runs", "show", "2026", "--repo", "{repo}"), 0,
        '"round": "x"', _run_record("trajectory.jsonl", '{"kind": "prompt", "round": "x"}\n')),
    Row("runs-show-no-trajectory", ("runs", "show", "2026", "--repo", "{repo}"), 2,
        "no trajectory.jsonl", _run_record("result.json", "{}")),
    Row("report-row-without-status", ("eval", "report", "{tmp}/run"), 0, "│ run ",
        _eval_run),
    Row("doctor-json-config-not-utf8", ("doctor", "--json", "--repo", "{repo}"), 2,
        "not valid TOML (not UTF-8 text)", _file("calc/.patchlore.toml", b"timeout = \xff\n")),
    Row("sandbox-exec-invalid-image-tag", ("sandbox", "exec", "--repo", "{repo}", "--image",
                                           "Bad Tag", "--", "true"), 2,
        "--image: image = 'Bad Tag' is not a Docker image reference"),
    Row("sandbox-exec-empty-image-tag", ("sandbox", "exec", "--repo", "{repo}", "--image", "",
                                         "--", "true"), 2, "is not a Docker image reference"),
    # --method dockerfile: the old code then fails at the engine at once, builds nothing
    Row("sandbox-build-invalid-image-tag", ("sandbox", "build", "--image", "UPPER:x",
                                            "--method", "dockerfile"), 2,
        "--image: image = 'UPPER:x' is not a Docker image reference"),
    Row("grade-image-template-unknown-key", ("eval", "grade", "--dataset", "{ds}",
                                             "--predictions", "gold", "--instances",
                                             "patchlore__chunks-1", "--image-template", "{nokey}",
                                             "--output", "{tmp}/out"), 2,
        "'--image-template': '{nokey}' is not a template of {instance_id}"),
    Row("report-plot-into-a-folder", ("eval", "report", "{tmp}/run", "--plot", "{tmp}/plots"),
        0, "│ run ", lambda t: (_eval_run(t), (t / "plots").mkdir()),
        makes="{tmp}/plots/learning-curve.png"),
    Row("report-plot-missing-folder", ("eval", "report", "{tmp}/run", "--plot",
                                       "{tmp}/nope/c.png"), 2, "--plot {tmp}/nope/c.png: cannot "
        "be written", _eval_run),
    # an engine call that times out mid-command (an engine loaded by other runs): it was a
    # requests traceback
    Row("engine-call-times-out", ("sandbox", "prune", "--env-images"), 2,
        "the Docker engine failed: ReadTimeout",
        env={"DOCKER_HOST": "{slow_engine}", "PATCHLORE_DOCKER_TIMEOUT": "1"}, docker=True),
]


@pytest.mark.parametrize("row", PROBE_ROWS, ids=[r.id for r in PROBE_ROWS])
def test_probe_row(row: Row, tmp_path, request):
    from test_bad_inputs_memory import seed

    if row.docker:
        request.getfixturevalue("docker_ready")

    repo = make_repo(tmp_path / "calc", CALC)
    mem = tmp_path / "memory"  # the autouse fixture's PATCHLORE_MEMORY_DIR
    seed(mem)
    fill = {"{repo}": str(repo), "{mem}": str(mem), "{tmp}": str(tmp_path),
            "{ds}": str(DATASET)}
    if "{mirrors}" in row.args:
        fill["{mirrors}"] = str(request.getfixturevalue("mirrors"))

    def filled(text: str) -> str:
        for k, v in fill.items():
            text = text.replace(k, v)
        return text

    if row.prep:
        row.prep(tmp_path)
        for p in tmp_path.glob("*.jsonl"):  # ids in prepared files may name {tmp}
            if p.read_bytes().isascii():
                p.write_text(filled(p.read_text()))
    def store() -> dict[str, str]:
        return {k: v for k, v in tree_digest(mem).items()
                if not row.reindexes or k == "log.jsonl"}

    before = _project(repo), store()
    outside = set(tmp_path.parent.iterdir())  # this session's folders (others run beside it)
    slow = SlowEngine() if "{slow_engine}" in row.env.values() else contextlib.nullcontext()
    with StubLLM(row.model or []) as stub, slow as slow_host:
        fill["{api}"], fill["{slow_engine}"] = stub.api_base, slow_host or ""
        res = run_cli(*[filled(a) for a in row.args], cwd=tmp_path, timeout=300,
                      env={k: filled(v) for k, v in row.env.items()},
                      prefix=UNPRIVILEGED if row.unprivileged else ())
    assert res.returncode == row.code, res.stderr
    if row.code and not row.plain:
        one_error_line(res, filled(row.says))
    else:
        assert "Traceback" not in res.stderr + res.stdout and "error:" not in res.stderr
        assert filled(row.says) in res.stdout + res.stderr, res.stdout + res.stderr
    assert (_project(repo), store()) == before  # nothing lost, nothing half-done
    assert set(tmp_path.parent.iterdir()) == outside
    for words in row.also:
        assert filled(words) in res.stdout + res.stderr, res.stdout + res.stderr
    if row.makes:
        assert Path(filled(row.makes)).is_file()
    if row.escape:
        target = Path(filled(row.escape))
        assert not (target if target.is_absolute() else tmp_path.parent / target).exists()
        assert not list(tmp_path.parent.rglob(target.name))


def test_apply_on_a_read_only_checkout_is_refused_before_the_run(tmp_path):
    """fix --apply and check --fix on a tree that cannot be written: one error line before any
    test run, model call or run record (it was a failed `git apply` at the end of the run)."""
    repo = make_repo(tmp_path / "calc", CALC)
    _read_only(tmp_path)
    ran = tmp_path / "tests-ran"
    model = ("--sandbox", "local", "--memory-mode", "off", "--model", "hosted_vllm/stub-coder",
             "--api-base", "{api}", "--samples", "1")
    for flag, args in [("--apply", ("fix", "--repo", str(repo), *model, "--apply")),
                       ("--fix", ("check", "--repo", str(repo), *model, "--fix", "--",
                                  f"touch {ran}; python3 -m pytest -q -p no:cacheprovider"))]:
        with StubLLM([[FIXED]] * 2) as stub:
            res = run_cli(*[a.replace("{api}", stub.api_base) for a in args], cwd=tmp_path,
                          timeout=300, prefix=UNPRIVILEGED)
        assert res.returncode == 2, res.stderr
        one_error_line(res, f"{flag}: {repo} cannot be written, so no fix could be applied")
        assert stub.requests == [] and not ran.exists()
        assert not (tmp_path / "xdg-state").exists()  # no run record anywhere


def _project(repo: Path) -> dict[str, str]:
    """The repo's files but for patchlore's run records (a run that starts writes them)."""
    return {k: v for k, v in tree_digest(repo).items() if not k.startswith(".patchlore")}
