"""Installing an instance's requirements into an image derived from the sandbox image, for real:
pip in a container downloads from a package index that the test serves on the Docker bridge
(PyPI itself stands behind a remote network; a local PEP 503 index takes its place), and
installs the repo in place with its own build backend (tests/wheelkit.py)."""

from __future__ import annotations

import json
import subprocess
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import remove_images, run_cli
from stub_llm import StubLLM
from patchlore.evals.dataset import Instance
from patchlore.evals.environment import install_steps

HERE = Path(__file__).resolve().parent
BASE = """from pl_tinydep import double


def quadruple(x):
    return double(x) + x
"""
FIXED = BASE.replace("return double(x) + x", "return double(double(x))")
TESTS = "from tinycalc import quadruple\n\n\ndef test_zero():\n    assert quadruple(0) == 0\n"
NEW_TEST = "\n\ndef test_two():\n    assert quadruple(2) == 8\n"
PYPROJECT = """[build-system]
requires = []
build-backend = "wheelkit"
backend-path = ["_build"]

[project]
name = "{name}"
version = "{version}"
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                           "user.email=t@t", *args], capture_output=True, text=True,
                          check=True).stdout


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def commit_diff(repo: Path, files: dict[str, str]) -> str:
    """The diff that `files` make to the repo's HEAD (left uncommitted, then undone)."""
    write_tree(repo, files)
    diff = git(repo, "diff")
    git(repo, "checkout", "--", ".")
    return diff


@pytest.fixture(scope="module")
def index(tmp_path_factory, docker_ready):
    """A PEP 503 index with pl-tinydep 1.0, served where containers on the bridge reach it."""
    import sys

    from patchlore.sandbox.docker_backend import docker_client

    root = tmp_path_factory.mktemp("index")
    dep = tmp_path_factory.mktemp("pl-tinydep")
    write_tree(dep, {"pyproject.toml": PYPROJECT.format(name="pl-tinydep", version="1.0"),
                     "src/pl_tinydep/__init__.py": "def double(x):\n    return 2 * x\n"})
    (root / "files").mkdir()
    built = subprocess.run([sys.executable, "-c", "import sys, wheelkit; "
                            "print(wheelkit.build_wheel(sys.argv[1]))", str(root / "files")],
                           cwd=dep, env={"PYTHONPATH": str(HERE)}, capture_output=True,
                           text=True, check=True).stdout.strip()
    (root / "simple" / "pl-tinydep").mkdir(parents=True)
    (root / "simple" / "pl-tinydep" / "index.html").write_text(
        f'<a href="../../files/{built}">{built}</a>\n')
    server = ThreadingHTTPServer(("0.0.0.0", 0),
                                 partial(SimpleHTTPRequestHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    gateway = docker_client().networks.get("bridge").attrs["IPAM"]["Config"][0]["Gateway"]
    try:
        yield {"PIP_INDEX_URL": f"http://{gateway}:{server.server_address[1]}/simple/",
               "PIP_TRUSTED_HOST": gateway}
    finally:
        server.shutdown()


@pytest.fixture
def dataset(tmp_path):
    """A mirror of patchlore/tinycalc (src layout, a requirement, its own build backend) and
    a one-instance dataset for it."""
    repos = tmp_path / "repos"
    repo = repos / "patchlore__tinycalc"
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    write_tree(repo, {"pyproject.toml": PYPROJECT.format(name="tinycalc", version="0.1"),
                      "_build/wheelkit.py": (HERE / "wheelkit.py").read_text(),
                      "requirements.txt": "pl-tinydep==1.0\n",
                      "src/tinycalc/__init__.py": BASE, "tests/test_calc.py": TESTS})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    row = {"instance_id": "patchlore__tinycalc-1", "repo": "patchlore/tinycalc",
           "base_commit": git(repo, "rev-parse", "HEAD").strip(),
           "problem_statement": "quadruple(2) returns 6, not 8.",
           "patch": commit_diff(repo, {"src/tinycalc/__init__.py": FIXED}),
           "test_patch": commit_diff(repo, {"tests/test_calc.py": TESTS + NEW_TEST}),
           "FAIL_TO_PASS": ["tests/test_calc.py::test_two"],
           "PASS_TO_PASS": ["tests/test_calc.py::test_zero"]}
    path = tmp_path / "tinycalc.jsonl"
    path.write_text(json.dumps(row) + "\n")
    return {"path": path, "repos": repos, "row": row}


@pytest.fixture
def env_images(docker_ready):
    """The environment images derived since the test began; removed at its end."""
    from patchlore.sandbox.docker_backend import docker_client

    client = docker_client()

    def all_tags() -> set[str]:
        return {t for img in client.images.list(name="patchlore-env") for t in img.tags}

    before = all_tags()
    yield lambda: all_tags() - before
    remove_images(sorted(all_tags() - before))


def grade(dataset, out: Path, env: dict, *extra: str):
    return run_cli("eval", "grade", "--dataset", str(dataset["path"]), "--predictions", "gold",
                   "--repos-dir", str(dataset["repos"]), "--output", str(out), "--json",
                   "--sandbox", "docker", *extra, env=env, timeout=600)


def test_requirements_are_installed_once_and_make_gold_resolve(dataset, index, env_images,
                                                               tmp_path):
    env = {**index, "PATCHLORE_CACHE_DIR": str(tmp_path / "cache")}
    without = grade(dataset, tmp_path / "off", env, "--no-setup")
    assert json.loads(without.stdout)["unresolved_ids"] == ["patchlore__tinycalc-1"]
    assert "No module named" in (tmp_path / "off" / "logs" / "patchlore__tinycalc-1" /
                                 "test_output.txt").read_text()
    assert env_images() == set()

    first = grade(dataset, tmp_path / "on", env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert json.loads(first.stdout)["resolved_ids"] == ["patchlore__tinycalc-1"]
    (tag,) = env_images()
    assert tag.startswith("patchlore-env:patchlore__tinycalc-")
    log = next((tmp_path / "cache" / "env").glob("*.log"))
    assert "Successfully installed pl-tinydep-1.0" in log.read_text()
    built_at = log.stat().st_mtime_ns

    again = grade(dataset, tmp_path / "again", env)  # the image is reused, not rebuilt
    assert json.loads(again.stdout)["resolved_ids"] == ["patchlore__tinycalc-1"]
    assert env_images() == {tag} and log.stat().st_mtime_ns == built_at
    pruned = run_cli("sandbox", "prune", "--env-images")
    assert tag in pruned.stderr and env_images() == set()


def test_the_agent_works_in_the_prepared_image(dataset, index, env_images, tmp_path):
    fix = ("src/tinycalc/__init__.py\n<<<<<<< SEARCH\n    return double(x) + x\n=======\n"
           "    return double(double(x))\n>>>>>>> REPLACE\n")
    repro = ("test_patchlore_repro.py\n<<<<<<< SEARCH\n=======\nfrom tinycalc import "
             "quadruple\n\n\ndef test_q():\n    assert quadruple(3) == 12\n>>>>>>> REPLACE\n")
    with StubLLM([[repro], [fix]]) as stub:
        res = run_cli("eval", "run", "--dataset", str(dataset["path"]), "--repos-dir",
                      str(dataset["repos"]), "--output", str(tmp_path / "run"), "--run-id",
                      "r", "--model", "hosted_vllm/stub-coder", "--api-base", stub.api_base,
                      "--samples", "1", "--rounds", "1", "--memory-mode", "off", "--sandbox",
                      "docker", env={**index, "PATCHLORE_CACHE_DIR": str(tmp_path / "c")},
                      timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    rec = json.loads((tmp_path / "run" / "r" / "results.jsonl").read_text().splitlines()[-1])
    # verified means: the reproduction test failed before the fix and passed after it, in the
    # sandbox, which only works if pl-tinydep and the editable install are there
    assert rec["outcome"] == "verified", rec
    assert "double(double(x))" in rec["model_patch"]


def test_a_requirement_that_cannot_be_installed_is_an_error_with_its_log(
        dataset, index, env_images, tmp_path, docker_ready):
    from patchlore.sandbox.docker_backend import docker_client

    repo = dataset["repos"] / "patchlore__tinycalc"
    (repo / "requirements.txt").write_text("pl-tinydep==1.0\npl-nowhere==9.9\n")
    git(repo, "commit", "-qam", "a requirement the index does not have")
    row = {**dataset["row"], "base_commit": git(repo, "rev-parse", "HEAD").strip()}
    dataset["path"].write_text(json.dumps(row) + "\n")
    res = grade(dataset, tmp_path / "out", {**index, "PATCHLORE_CACHE_DIR": str(tmp_path)})
    assert json.loads(res.stdout)["error_ids"] == ["patchlore__tinycalc-1"]
    report = json.loads((tmp_path / "out" / "logs" / "patchlore__tinycalc-1" / "report.json")
                        .read_text())
    assert "environment setup for patchlore-env:patchlore__tinycalc-" in report["reason"]
    assert "pl-nowhere" in report["reason"] and "exit 1" in report["reason"]
    assert env_images() == set()
    left = docker_client().containers.list(all=True, filters={"label": "patchlore.setup"})
    assert left == []


def test_a_row_s_own_recipe_wins_over_guessing():
    inst = Instance("i", "o/r", "c", "", "", "", [], [],
                    extra={"pre_install": ["apt-get -h"], "pip_packages": ["a==1", "b>2"],
                           "install": "python -m pip install -e . --no-deps"})
    files = {"requirements.txt": "x\n", "setup.py": ""}
    assert install_steps(inst, files.get) == [
        "apt-get -h", "python -m pip install a==1 'b>2'",
        "python -m pip install -e . --no-deps"]
    guessed = Instance("i", "o/r", "c", "", "", "", [], [])
    extras = '[project]\nname = "x"\n[project.optional-dependencies]\ntest = ["pytest"]\n'
    assert install_steps(guessed, {"requirements-dev.txt": "", "pyproject.toml": extras}.get) \
        == ["python -m pip install -r requirements-dev.txt", "python -m pip install -e '.[test]'"]
    assert install_steps(guessed, {"pyproject.toml": "[tool.ruff]\n", "m.py": ""}.get) == []
