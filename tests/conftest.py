"""Shared fixtures: small real git repos, a real Docker engine (or a skip), the real CLI."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

IMAGE = os.environ.get("PATCHLORE_TEST_IMAGE", "patchlore-sandbox:latest")

CALC = {
    "calc.py": "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n",
    "test_calc.py": (
        "from calc import add, mul\n\n\n"
        "def test_add():\n    assert add(1, 2) == 3\n\n\n"
        "def test_mul():\n    assert mul(2, 3) == 6\n"
    ),
    ".gitignore": "*.log\nbuild/\n",
}
FIX = """\
--- a/calc.py
+++ b/calc.py
@@ -1,5 +1,5 @@
 def add(a, b):
-    return a - b
+    return a + b
 
 
 def mul(a, b):
"""


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True,
                          capture_output=True, text=True).stdout


def make_repo(path: Path, files: dict[str, str], commit: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    if commit:
        git(path, "add", "-A")
        git(path, "commit", "-qm", "init")
    return path


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under root (the .git directory included) with its hash and mode."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_file():
            out[rel] = f"{p.stat().st_mode:o}:" + hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = f"dir:{p.stat().st_mode:o}"
    return out


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    """No test reads or writes the user's own memory, config or cache."""
    monkeypatch.setenv("PATCHLORE_MEMORY_DIR", str(tmp_path / "memory"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))


@pytest.fixture
def no_settings_from_outside(monkeypatch, tmp_path):
    """Settings come only from what the test writes: no PATCHLORE_* variable of the caller's,
    and a user config folder (tmp/xdg) the test may fill."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for key in list(os.environ):
        if key.startswith("PATCHLORE_"):
            monkeypatch.delenv(key)


@pytest.fixture
def calc_repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "calc", CALC)
    (repo / "debug.log").write_text("ignored, never copied\n")
    return repo


def _docker_problem() -> str | None:
    try:
        from patchlore.errors import SandboxUnavailable
        from patchlore.sandbox.docker_backend import docker_client, require_image

        client = docker_client(timeout=5)
        require_image(client, IMAGE)
    except SandboxUnavailable as exc:
        return f"{exc.message} ({exc.hint})"
    return None


@pytest.fixture(scope="session")
def docker_ready() -> None:
    problem = _docker_problem()
    if problem:
        if os.environ.get("PATCHLORE_REQUIRE_DOCKER") == "1":
            pytest.fail(f"PATCHLORE_REQUIRE_DOCKER=1 but {problem}")
        pytest.skip(problem)


@pytest.fixture
def settings(tmp_path):
    from patchlore.config import Settings

    return Settings(image=IMAGE, timeout=60, memory_dir=str(tmp_path / "mem"))


@pytest.fixture(scope="session")
def mirrors(tmp_path_factory) -> Path:
    """The minibench's repos as local mirrors (owner__name), built once per test session."""
    out = tmp_path_factory.mktemp("mirrors")
    build = Path(__file__).resolve().parent.parent / "examples" / "minibench" / "build.py"
    subprocess.run([sys.executable, str(build), "--mirrors", str(out)], check=True,
                   capture_output=True)
    return out


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """The real `patchlore` entry point in a child process (`prefix`: a command to run it
    under, e.g. UNPRIVILEGED)."""
    full_env = {**os.environ, "PATCHLORE_IMAGE": IMAGE, "NO_COLOR": "1", **(env or {})}
    return subprocess.run([*prefix, sys.executable, "-m", "patchlore", *args], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=timeout)


# File permissions bind root only without these capabilities: a read-only directory is
# read-only to a child run under this prefix, as it is to an ordinary user.
UNPRIVILEGED = (("setpriv", "--bounding-set", "-dac_override,-dac_read_search")
                if os.geteuid() == 0 else ())


def make_testbed_image(mirror: Path, tag: str, work: Path, extra: dict[str, str] | None = None) -> str:
    """An image like SWE-bench's: the sandbox image with the repo (and its .git) at /testbed,
    plus `extra` files that only the image has."""
    from patchlore.sandbox.docker_backend import docker_client

    client = docker_client()
    subprocess.run(["git", "clone", "-q", str(mirror), str(work)], check=True)
    for name, text in (extra or {}).items():
        (work / name).write_text(text)
    tar = subprocess.run(["tar", "-C", str(work), "-c", "--transform", "s,^\\.,testbed,", "."],
                         capture_output=True, check=True).stdout
    box = client.containers.create(IMAGE, ["true"])
    try:
        box.put_archive("/", tar)
        repository, _, version = tag.rpartition(":")
        box.commit(repository=repository, tag=version)
    finally:
        box.remove(force=True)
    return tag


def remove_images(tags: list[str]) -> None:
    from patchlore.sandbox.docker_backend import docker_client

    client = docker_client()
    for tag in tags:
        client.images.remove(tag, force=True)
