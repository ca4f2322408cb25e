"""`patchlore check` for hooks and CI: the three outcomes, bad commands, budgets, formats,
and a real pre-commit run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import git, make_repo, run_cli
from stub_llm import StubLLM

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "pricing"
GOOD = """cart.py
<<<<<<< SEARCH
    return round(amount * (1 + percent / 100), 2)
=======
    return round(amount * (1 - percent / 100), 2)
>>>>>>> REPLACE
"""
PYTEST = ["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider"]


@pytest.fixture
def repo(tmp_path):
    files = {p.name: p.read_text() for p in EXAMPLE.iterdir() if p.is_file()}
    return make_repo(tmp_path / "pricing", files)


def check(repo, *args, stub=None, budget="120"):
    env = {"PATCHLORE_SANDBOX": "local", "PATCHLORE_MEMORY_MODE": "off", "CI": "true",
           "PATCHLORE_MODEL": "hosted_vllm/stub-coder",
           "PATCHLORE_API_BASE": stub.api_base if stub else "http://127.0.0.1:9/v1"}
    return run_cli("check", "--repo", str(repo), "--budget", budget, "--samples", "1", *args,
                   env=env, timeout=300)


def test_green_tests_exit_0_without_heavy_imports(tmp_path):
    green = make_repo(tmp_path / "green", {"test_ok.py": "def test_ok():\n    assert True\n"})
    res = check(green, "--", *PYTEST)
    assert res.returncode == 0 and "tests pass" in res.stderr
    code = ("import sys; sys.argv = ['patchlore', 'check', '--', 'true']\n"
            "from patchlore.cli.app import main\ntry: main()\nexcept SystemExit as e: "
            "print('EXIT', e.code)\n"
            "print('HEAVY', [m for m in ('litellm', 'chromadb', 'docker', 'rich', 'bm25s')"
            " if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=green, capture_output=True,
                         text=True)
    assert "EXIT None" in out.stdout or "EXIT 0" in out.stdout, out.stdout + out.stderr
    assert "HEAVY []" in out.stdout


def test_red_tests_get_a_verified_patch_and_exit_1(repo):
    with StubLLM([[GOOD]]) as stub:
        res = check(repo, "--", *PYTEST, stub=stub)
    assert res.returncode == 1, res.stderr
    assert "+    return round(amount * (1 - percent / 100), 2)" in res.stdout
    assert (repo / ".patchlore" / "suggested.patch").read_text() == res.stdout
    assert "test_cart.py::test_discount_reduces_price" in res.stderr
    assert "(1 + percent" in (repo / "cart.py").read_text()  # not applied without --fix


def test_fix_applies_to_the_working_tree_only(repo):
    with StubLLM([[GOOD]]) as stub:
        res = check(repo, "--fix", "--", *PYTEST, stub=stub)
    assert res.returncode == 1 and "not staged" in res.stderr
    assert "(1 - percent" in (repo / "cart.py").read_text()
    assert git(repo, "diff", "--cached", "--name-only") == ""
    assert subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=repo, capture_output=True).returncode == 0


def test_no_fix_found_and_no_model_both_exit_1_with_the_failures(repo):
    with StubLLM([["no idea"], ["still no idea"]]) as stub:
        res = check(repo, "--", *PYTEST, stub=stub)
    assert res.returncode == 1 and "no verified fix" in res.stderr
    assert "test_cart.py::test_total_with_discount" in res.stderr
    down = check(repo, "--", *PYTEST)
    assert down.returncode == 1 and "not reachable" in down.stderr
    assert "Traceback" not in down.stderr + res.stderr


def test_markdown_and_json_formats(repo):
    with StubLLM([[GOOD]]) as stub:
        md = check(repo, "--format", "markdown", "--", *PYTEST, stub=stub)
    assert md.returncode == 1
    assert md.stdout.startswith("### patchlore check: tests fail")
    assert "```diff" in md.stdout and "- `test_cart.py::test_total_with_discount`" in md.stdout
    with StubLLM([[GOOD]]) as stub:
        js = json.loads(check(repo, "--format", "json", "--", *PYTEST, stub=stub).stdout)
    assert js["status"] == "failed" and js["repair"] == "verified" and js["patch"]


def test_missing_command_and_hanging_tests(repo):
    res = check(repo, "--", "no-such-test-runner", "-q")
    assert res.returncode == 2 and res.stderr.startswith("error: test command not found")
    res = check(repo, "--", "sleep 60", budget="2")  # had it waited, sleep would pass
    assert res.returncode == 1 and "did not finish within the 2 s budget" in res.stderr


def test_real_pre_commit_blocks_red_commits_and_passes_green_ones(repo, tmp_path):
    if subprocess.run(["git", "status", "--porcelain", ".pre-commit-hooks.yaml"], cwd=ROOT,
                      capture_output=True, text=True).stdout.strip():
        pytest.skip("commit .pre-commit-hooks.yaml first: pre-commit clones this checkout")
    rev = git(ROOT, "rev-parse", "HEAD").strip()
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {ROOT}\n  rev: {rev}\n  hooks:\n  - id: patchlore-check-system\n"
        f"    args: [--budget, '120', --samples, '1', --, {', '.join(PYTEST)}]\n")
    git(repo, "add", ".pre-commit-config.yaml")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "PATCHLORE_SANDBOX": "local",
           "PATCHLORE_MEMORY_MODE": "off", "PATCHLORE_MODEL": "hosted_vllm/stub-coder"}
    pre_commit = str(Path(sys.executable).parent / "pre-commit")
    subprocess.run([pre_commit, "install"], cwd=repo, env=env, check=True, capture_output=True)

    def commit(message: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit",
                               "-qm", message], cwd=repo, env=env, capture_output=True,
                              text=True, timeout=300)

    with StubLLM([[GOOD]]) as stub:
        env["PATCHLORE_API_BASE"] = stub.api_base
        blocked = commit("add pre-commit")
    assert blocked.returncode != 0
    shown = blocked.stdout + blocked.stderr
    assert "patchlore check" in shown and "Failed" in shown
    assert "+    return round(amount * (1 - percent / 100), 2)" in shown
    assert git(repo, "log", "--oneline").count("\n") == 1  # only the initial commit
    git(repo, "apply", ".patchlore/suggested.patch")
    git(repo, "add", "cart.py")
    passed = commit("fix the discount")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "fix the discount" in git(repo, "log", "--oneline")


def test_memory_and_sandbox_flags_as_fix_has_them(repo, tmp_path, docker_ready):
    memory = tmp_path / "mem"
    with StubLLM([[GOOD]]) as stub:  # the flags win over check()'s environment (off, local)
        res = check(repo, "--memory-mode", "online", "--memory", str(memory), "--sandbox",
                    "local", "--", *PYTEST, stub=stub)
    assert res.returncode == 1 and "verified patch written" in res.stderr, res.stderr
    episodes = [json.loads(x) for x in (memory / "log.jsonl").read_text().splitlines()]
    assert any("(1 - percent" in json.dumps(e) for e in episodes)
    res = check(repo, "--sandbox", "docker", "--image", "patchlore-no-such-image:1", "--",
                *PYTEST)
    assert res.returncode == 1 and "patchlore-no-such-image:1" in res.stderr, res.stderr


def test_a_bad_setting_stops_check_before_the_tests_run(repo):
    marker = repo / "ran"
    res = check(repo, "--memory-mode", "onlin", "--", "touch", str(marker))
    assert res.returncode == 2 and not marker.exists()
    assert res.stderr.startswith("error: --memory-mode: memory_mode = 'onlin' is not one of")


@pytest.mark.parametrize("kind", ["django", "sympy", "unittest"])
def test_the_failing_tests_of_any_runner_are_named(kind, tmp_path):
    # the tests run on the host: pytest's failures come from its JUnit XML, the other runners'
    # from their logs, under the names the repair loop verifies
    from test_runners import BUG, GOOD as FIX, PROJECTS

    files, cmd, failing, other = PROJECTS[kind]
    repo = make_repo(tmp_path / kind, {**files, "lib.py": BUG})
    with StubLLM([[FIX]]) as stub:
        res = check(repo, "--format", "json", "--", cmd, stub=stub)
    assert res.returncode == 1, res.stderr
    report = json.loads(res.stdout)
    assert report["failing"] == [failing], report
    assert report["repair"] == "verified"
