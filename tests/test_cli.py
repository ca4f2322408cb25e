"""The real `patchlore` command in child processes: help, results, exit codes, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIX, IMAGE, run_cli

GROUPS = ["fix", "runs", "memory", "model", "doctor", "sandbox", "config"]
COMMANDS = [["fix"], ["runs", "list"], ["runs", "show"], ["model", "check"], ["model", "serve"],
            ["doctor"], ["sandbox", "build"], ["sandbox", "exec"], ["sandbox", "prune"],
            ["config", "show"], ["eval", "grade"], ["eval", "run"], ["eval", "report"],
            *[["memory", c] for c in (
                "list", "show", "search", "stats", "forget", "export", "import", "reindex",
                "prune")]]


def one_line_error(res: subprocess.CompletedProcess, *words: str) -> None:
    """One `error:` line naming the problem, no traceback."""
    lines = [ln for ln in res.stderr.strip().splitlines() if not ln.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.parametrize("args,flag", [
    (["eval", "grade", "--predictions", "gold", "--harness", "nope"], "--harness"),
    (["eval", "run", "--repos-dir", ".", "--executor", "nope"], "--executor"),
    (["eval", "report", ".", "--format", "nope"], "--format"),
])
def test_an_unknown_choice_is_a_usage_error(args, flag, tmp_path):
    if args[1] != "report":
        args = [*args, "--dataset", "examples/minibench/minibench.jsonl"]
    res = run_cli(*args, cwd=Path(__file__).resolve().parent.parent, env={"HOME": str(tmp_path)})
    assert res.returncode == 2
    one_line_error(res, flag, "'nope'")


def test_help_lists_the_command_groups():
    res = run_cli("--help")
    assert res.returncode == 0
    for g in GROUPS:
        assert f"  {g} " in res.stdout


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_every_command_has_help_and_examples(cmd):
    res = run_cli(*cmd, "--help")
    assert res.returncode == 0 and "Example" in res.stdout, res.stdout


def test_help_does_not_import_heavy_libraries():
    code = ("import sys; sys.argv = ['patchlore', '--help']\n"
            "from patchlore.cli.app import main\n"
            "try: main()\nexcept SystemExit: pass\n"
            "heavy = [m for m in ('docker', 'litellm', 'chromadb', 'rich', 'git', 'requests')"
            " if m in sys.modules]\nprint('HEAVY', heavy)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in res.stdout, res.stdout


HELP_PROBE = ("import sys; sys.argv = ['patchlore', *sys.argv[1:]]\n"
              "from patchlore.cli.app import main\n"
              "try: main()\nexcept SystemExit as e: code = e.code\n"
              "print('TYPER', 'typer' in sys.modules, code, file=sys.stderr)")


def _help(*args: str, env: dict[str, str], pythonpath: str = "") -> tuple[str, str]:
    """One help request in a new process: (its text, whether typer was imported and the
    exit code). With `pythonpath` it runs there (`-c` puts the cwd first on sys.path)."""
    full = {**os.environ, "NO_COLOR": "1", **env}
    if pythonpath:
        full["PYTHONPATH"] = pythonpath
    res = subprocess.run([sys.executable, "-c", HELP_PROBE, *args], capture_output=True,
                         text=True, env=full, timeout=60, cwd=pythonpath or None)
    return res.stdout, res.stderr.strip().splitlines()[-1]


def test_a_help_request_answered_once_is_printed_again_without_typer(tmp_path):
    env = {"PATCHLORE_CACHE_DIR": str(tmp_path), "COLUMNS": "100"}
    first, how = _help("memory", "search", "--help", env=env)
    assert how == "TYPER True 0" and "Usage: patchlore memory search" in first
    again, how = _help("memory", "search", "--help", env=env)
    assert how == "TYPER False 0" and again == first
    # another width is another text, drawn by typer (and then kept too)
    narrow, how = _help("memory", "search", "--help", env={**env, "COLUMNS": "60"})
    assert how == "TYPER True 0" and narrow != first
    assert max(map(len, narrow.splitlines())) <= 60 < max(map(len, first.splitlines()))
    # an error is never kept: a wrong command name goes to typer every time
    for _ in range(2):
        assert _help("fixx", "--help", env=env)[1] == "TYPER True 2"


def test_kept_help_follows_a_change_to_the_code(tmp_path):
    import shutil

    src = Path(__file__).resolve().parent.parent / "patchlore"
    shutil.copytree(src, tmp_path / "code" / "patchlore",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PATCHLORE_CACHE_DIR": str(tmp_path / "cache")}
    code = str(tmp_path / "code")
    before, _ = _help("--help", env=env, pythonpath=code)
    assert _help("--help", env=env, pythonpath=code) == (before, "TYPER False 0")
    root = tmp_path / "code" / "patchlore" / "cli" / "root.py"
    root.write_text(root.read_text().replace("remembers what worked.", "remembers it all."))
    after, how = _help("--help", env=env, pythonpath=code)
    assert how == "TYPER True 0" and "remembers it all." in after and after != before


def test_version():
    res = run_cli("--version")
    assert res.returncode == 0 and res.stdout.startswith("patchlore 0.")


def test_unknown_command_is_a_usage_error():
    res = run_cli("fixx")
    assert res.returncode == 2 and "No such command" in res.stderr


def test_missing_path(tmp_path):
    res = run_cli("sandbox", "exec", "--repo", str(tmp_path / "nope"), "--", "true")
    assert res.returncode == 2
    one_line_error(res, "no such directory")


def test_not_a_git_repo(tmp_path):
    res = run_cli("sandbox", "exec", "--repo", str(tmp_path), "--sandbox", "local", "--", "true")
    assert res.returncode == 2
    one_line_error(res, "not a git repository", "git init")


def test_docker_engine_down(calc_repo):
    res = run_cli("sandbox", "exec", "--repo", str(calc_repo), "--sandbox", "docker", "--",
                  "true", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert res.returncode == 2
    one_line_error(res, "Docker engine not reachable", "--sandbox local")


def test_auto_falls_back_to_local_loudly(calc_repo):
    res = run_cli("sandbox", "exec", "--repo", str(calc_repo), "--", "echo", "hi",
                  env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert res.returncode == 0 and res.stdout == "hi\n"
    assert "does not isolate" in res.stderr and "warning:" in res.stderr


def test_image_missing(calc_repo, docker_ready):
    res = run_cli("sandbox", "exec", "--repo", str(calc_repo), "--image",
                  "patchlore-no-such-image:0", "--", "true")
    assert res.returncode == 2
    one_line_error(res, "patchlore-no-such-image:0", "not found", "patchlore sandbox build")


def test_patch_that_does_not_apply(calc_repo, tmp_path):
    bad = tmp_path / "bad.diff"
    bad.write_text(FIX.replace("-    return a - b", "-    return a % b"))
    res = run_cli("sandbox", "exec", "--repo", str(calc_repo), "--sandbox", "local",
                  "--patch", str(bad), "--", "true")
    assert res.returncode == 2
    one_line_error(res, "does not apply", "calc.py")
    missing = run_cli("sandbox", "exec", "--repo", str(calc_repo), "--sandbox", "local",
                      "--patch", str(tmp_path / "none.diff"), "--", "true")
    assert missing.returncode == 2
    one_line_error(missing, "none.diff", "No such file")


@pytest.mark.parametrize("backend", ["docker", "local"])
def test_exec_reports_failing_tests_and_exit_code(calc_repo, backend, request):
    if backend == "docker":
        request.getfixturevalue("docker_ready")
    res = run_cli("sandbox", "exec", "--repo", str(calc_repo), "--sandbox", backend,
                  "--", "python3", "-m", "pytest", "-q")
    assert res.returncode == 1
    assert "test_calc.py::test_add" in res.stderr and "assert -1 == 3" in res.stderr
    assert "tests: 1 failed, 1 passed" in res.stderr
    assert f"({backend} sandbox)" in res.stderr
    assert "junit" not in res.stdout  # our scratch report is not the user's business


def test_exec_with_patch_and_json(calc_repo, tmp_path, docker_ready):
    fix = tmp_path / "fix.diff"
    fix.write_text(FIX)
    res = run_cli("sandbox", "exec", "--repo", str(calc_repo), "--patch", str(fix), "--json",
                  "--", "python3 -m pytest -q")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["backend"] == "docker" and data["kind"] == "junit" and data["passed"]
    assert data["counts"] == {"passed": 2}
    assert set(data["tests"]) == {"test_calc.py::test_add", "test_calc.py::test_mul"}
    assert "applied with git apply" in res.stderr


def test_exec_timeout_exits_124(calc_repo, docker_ready):
    res = run_cli("sandbox", "exec", "--repo", str(calc_repo), "--timeout", "1", "--",
                  "sleep", "60")
    assert res.returncode == 124 and "timed out" in res.stderr


def test_config_flag_image_reaches_the_sandbox(calc_repo, docker_ready):
    res = run_cli("sandbox", "exec", "--repo", str(calc_repo), "--image", IMAGE, "--",
                  "cat /etc/debian_version")
    assert res.returncode == 0 and res.stdout.strip()[0].isdigit()
