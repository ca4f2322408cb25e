"""A package index and a repo with requirements, for tests and benchmarks of environment setup.

PyPI stands behind a remote network; an index served on the Docker bridge takes its place, with
wheels built by the tests' own backend (tests/wheelkit.py), pytest and pytest-timeout (which
every environment gets: its venv does not see the sandbox image's) and any others a test
publishes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYPROJECT = """[build-system]
requires = []
build-backend = "wheelkit"
backend-path = ["_build"]

[project]
name = "{name}"
version = "{version}"
"""
BASE = """from pl_tinydep import double


def quadruple(x):
    return double(x) + x
"""
FIXED = BASE.replace("return double(x) + x", "return double(double(x))")
TESTS = "from tinycalc import quadruple\n\n\ndef test_zero():\n    assert quadruple(0) == 0\n"
NEW_TEST = "\n\ndef test_two():\n    assert quadruple(2) == 8\n"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                           "user.email=t@t", *args], capture_output=True, text=True,
                          check=True).stdout


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


class _Index(SimpleHTTPRequestHandler):
    """Static files; a project page as PEP 691 JSON (with PEP 700 upload times, which uv's
    exclude-newer reads) to clients that ask for it, as uv does."""

    def send_head(self):
        page = Path(self.translate_path(self.path)) / "index.json"
        if "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", "") \
                and page.is_file():
            body = page.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return io.BytesIO(body)
        return super().send_head()

    def log_message(self, *args) -> None:  # one line per request would drown the output
        pass


def bridge_gateway(client) -> str:
    """The host's address as containers on the default bridge see it: their default route.

    The network's IPAM `Gateway` would say the same, but a fresh engine leaves the key out."""
    image = os.environ.get("PATCHLORE_TEST_IMAGE", "patchlore-sandbox:latest")
    routes = client.containers.run(image, ["cat", "/proc/net/route"], network="bridge",
                                   remove=True).decode()
    # columns: Iface Destination Gateway ...; the gateway is a little-endian hex IPv4 address
    gateway = next(line.split()[2] for line in routes.splitlines()[1:]
                   if line.split()[1] == "00000000")
    return socket.inet_ntoa(struct.pack("<I", int(gateway, 16)))


def build_wheel(src: Path, dest: Path, name: str, version: str, code: str,
                project: str = "") -> Path:
    """A wheel of `name` holding src/<module>/__init__.py = code, built by the tests' backend;
    `project` adds lines to its [project] table (dependencies, optional-dependencies)."""
    module = name.replace("-", "_")
    write_tree(src, {"pyproject.toml": PYPROJECT.format(name=name, version=version) + project,
                     f"src/{module}/__init__.py": code})
    built = subprocess.run([sys.executable, "-c", "import sys, wheelkit; "
                            "print(wheelkit.build_wheel(sys.argv[1]))", str(dest)],
                           cwd=src, env={"PYTHONPATH": str(HERE)}, capture_output=True,
                           text=True, check=True).stdout.strip()
    return dest / built


# the test tools every environment installs (sandbox/env/envsetup.py: TEST_TOOLS)
TEST_TOOLS = ("pytest==8.4.2", "pytest-timeout==2.4.0", "setuptools==69.5.1", "wheel==0.43.0")


def test_tool_wheels() -> list[Path]:
    """Wheels of TEST_TOOLS and their dependencies, from this machine's package index, once."""
    dest = Path(tempfile.gettempdir()) / "patchlore-test-tools" / \
        hashlib.sha256(" ".join(TEST_TOOLS).encode()).hexdigest()[:12]
    if not (dest / "done").is_file():
        done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
                               "--python-version", "3.11", "--dest", str(dest), *TEST_TOOLS],
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"pip download {' '.join(TEST_TOOLS)}: {done.stderr[-1000:]}")
        (dest / "done").touch()
    return sorted(dest.glob("*.whl"))


class PackageIndex:
    """pl-tinydep 1.0 and TEST_TOOLS (uploaded in 2020) on an index that containers on the
    bridge reach (or, with `bridge=False`, this host alone, no Docker needed); `env` points pip
    and uv at it; `add` publishes more."""

    def __init__(self, root: Path, bridge: bool = True) -> None:
        self.root = root
        (root / "files").mkdir(parents=True)
        self.uploaded: dict[str, dict[str, str]] = {}  # project -> {file name: upload time}
        self.add(build_wheel(root / "src" / "1.0", root / "files", "pl-tinydep", "1.0",
                             "def double(x):\n    return 2 * x\n"), "2020-01-01T00:00:00Z")
        for wheel in test_tool_wheels():
            self.add(wheel, "2020-01-01T00:00:00Z")
        self.server = ThreadingHTTPServer(("0.0.0.0" if bridge else "127.0.0.1", 0),
                                          partial(_Index, directory=str(root)))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        if bridge:
            from patchlore.sandbox.docker_backend import docker_client

            host = bridge_gateway(docker_client())
        else:
            host = "127.0.0.1"
        self.env = {"PIP_INDEX_URL": f"http://{host}:{self.server.server_address[1]}/simple/",
                    "PIP_TRUSTED_HOST": host}

    def add(self, wheel: Path, uploaded: str) -> None:
        """Publish `wheel` (a file) as uploaded at `uploaded` (RFC 3339)."""
        if wheel.parent != self.root / "files":
            shutil.copy(wheel, self.root / "files" / wheel.name)
        project = re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()
        files = self.uploaded.setdefault(project, {})
        files[wheel.name] = uploaded
        page = self.root / "simple" / project
        page.mkdir(parents=True, exist_ok=True)
        entries = [{"filename": f, "url": f"../../files/{f}", "upload-time": t,
                    "hashes": {"sha256": hashlib.sha256((self.root / "files" / f).read_bytes())
                               .hexdigest()}} for f, t in sorted(files.items())]
        (page / "index.html").write_text("".join(
            f'<a href="{e["url"]}#sha256={e["hashes"]["sha256"]}">{e["filename"]}</a>\n'
            for e in entries))
        (page / "index.json").write_text(json.dumps({
            "meta": {"api-version": "1.1"}, "name": project, "files": entries,
            "versions": sorted({f.split("-")[1] for f in files})}))

    def close(self) -> None:
        self.server.shutdown()


def diff_of(repo: Path, files: dict[str, str]) -> str:
    """The diff that `files` make to the repo's HEAD (written, diffed, then undone)."""
    write_tree(repo, files)
    diff = git(repo, "diff")
    git(repo, "checkout", "--", ".")
    return diff


def make_tinycalc(repos: Path, dataset: Path) -> dict:
    """A mirror of patchlore/tinycalc (src layout, a requirement, its own build backend) in
    `repos`, and a one-instance dataset for it at `dataset`; returns the row."""
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
           "patch": diff_of(repo, {"src/tinycalc/__init__.py": FIXED}),
           "test_patch": diff_of(repo, {"tests/test_calc.py": TESTS + NEW_TEST}),
           "FAIL_TO_PASS": ["tests/test_calc.py::test_two"],
           "PASS_TO_PASS": ["tests/test_calc.py::test_zero"]}
    dataset.write_text(json.dumps(row) + "\n")
    return row
