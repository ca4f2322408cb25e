"""Where an instance's tests run.

In order: the row's own `image` (the repo inside, SWE-bench's at /testbed), else
--image-template, else the sandbox image with the repo copied in at its base commit. In that
last case the instance's requirements are installed first, once per repo, setup commit and
install recipe, into an image derived from the sandbox image (a venv at /opt/patchlore/venv
that also sees the image's pytest). The recipe is the row's own `pre_install`, `pip_packages`
and `install` fields when it has them; else the repo's test requirement files and, when it is a
package, an editable install of it (so the repo copied in later is the code that gets tested).
Setup may use the network (pip settings and a CA bundle are passed on); the tests never do.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shlex
import subprocess
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from patchlore.config import Settings
from patchlore.errors import PatchloreError, SandboxUnavailable
from patchlore.evals.dataset import Instance
from patchlore.evals.repos import checkout, mirror_of

VENV = "/opt/patchlore/venv"
REPO = "/repo"  # where the setup installs from, and where the sandbox copies the repo later
CA_PATH = "/etc/patchlore/setup-ca.pem"
REQUIREMENT_FILES = ("requirements.txt", "requirements-test.txt", "requirements_test.txt",
                     "test-requirements.txt", "test_requirements.txt", "requirements-dev.txt",
                     "requirements/test.txt", "requirements/tests.txt", "requirements/dev.txt")
TEST_EXTRAS = ("test", "tests", "testing")
PIP_ENV = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_DEFAULT_TIMEOUT",
           "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
CA_ENV = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
IMAGE_PATH = "PATH=" + VENV + "/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# so `pytest` (not only `python -m pytest`) runs under the venv's python
PYTEST_SHIM = f"#!{VENV}/bin/python\nimport sys\nfrom pytest import console_main\n" \
              "sys.exit(console_main())\n"


@dataclass
class EnvOptions:
    image_template: str = ""
    setup: bool = True  # install the instance's requirements into a derived image
    setup_timeout: float = 1800.0


def environment(inst: Instance, settings: Settings, repos_dir: Path,
                opts: EnvOptions | None = None) -> Settings:
    """The settings to run `inst`'s tests with: its image, or one with its requirements."""
    opts = opts or EnvOptions()
    image = inst.extra.get("image") or ""
    if not image and opts.image_template:
        owner, _, name = inst.repo.partition("/")
        image = opts.image_template.format(
            instance_id=inst.instance_id, owner=owner, name=name,
            id_1776=inst.instance_id.replace("__", "_1776_"))  # SWE-bench's image naming
    if image:
        return dataclasses.replace(settings, image=image, workdir=settings.workdir or "/testbed")
    if not opts.setup or settings.workdir or settings.sandbox == "local":
        return settings
    if settings.sandbox == "auto":
        from patchlore.sandbox.docker_backend import docker_client

        try:
            docker_client()
        except SandboxUnavailable:
            return settings  # the sandbox falls back to local, which has no images
    env_image = prepared_image(inst, settings.image, repos_dir, opts.setup_timeout)
    return dataclasses.replace(settings, image=env_image) if env_image else settings


def install_steps(inst: Instance, read: Callable[[str], str | None]) -> list[str]:
    """Shell steps, run in the repo with the venv first on PATH; `read(path)` gives a file of
    the repo at its setup commit, or None. Empty: nothing to install."""
    def listed(value) -> list[str]:
        return [value] if isinstance(value, str) else [str(v) for v in value or []]

    steps = listed(inst.extra.get("pre_install"))
    if inst.extra.get("pip_packages"):
        steps.append("python -m pip install " + shlex.join(listed(inst.extra["pip_packages"])))
    steps += listed(inst.extra.get("install"))
    if steps:  # the row says how: never guess on top of it
        return steps
    steps = [f"python -m pip install -r {f}" for f in REQUIREMENT_FILES if read(f) is not None]
    try:
        meta = tomllib.loads(read("pyproject.toml") or "")
    except tomllib.TOMLDecodeError:
        meta = {}
    if read("setup.py") is not None or "project" in meta or "build-system" in meta:
        extras = [e for e in TEST_EXTRAS
                  if e in meta.get("project", {}).get("optional-dependencies", {})]
        target = "." + (f"[{','.join(extras)}]" if extras else "")
        steps.append("python -m pip install -e " + shlex.quote(target))
    return steps


def repo_reader(mirror: Path, commit: str) -> Callable[[str], str | None]:
    """The files of `mirror` at `commit`, read from git without a checkout."""
    listed = subprocess.run(["git", "-C", str(mirror), "ls-tree", "-r", "--name-only", commit],
                            capture_output=True, text=True)
    if listed.returncode != 0:
        raise PatchloreError(f"{mirror.name}: no commit {commit[:12]} "
                             f"({listed.stderr.strip()[:200]})")
    names = set(listed.stdout.splitlines())

    def read(path: str) -> str | None:
        if path not in names:
            return None
        return subprocess.run(["git", "-C", str(mirror), "show", f"{commit}:{path}"],
                              capture_output=True, text=True, errors="replace").stdout
    return read


def setup_script(steps: list[str]) -> str:
    return "\n".join([
        "set -eux",
        f"python3 -m venv --without-pip --system-site-packages {VENV}",
        f"export PATH={VENV}/bin:$PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1",
        f"cd {REPO}",
        *steps,
        f"[ -e {VENV}/bin/pytest ] || {{ printf '%s' {shlex.quote(PYTEST_SHIM)} "
        f"> {VENV}/bin/pytest; chmod 755 {VENV}/bin/pytest; }}",
        # the repo at its base commit is copied here later: the editable install points here
        f"cd / && rm -rf {REPO} {CA_PATH}", ""])


def setup_env() -> tuple[dict[str, str], str]:
    """The host's pip settings for the setup container, and its CA bundle (a proxy that
    re-signs TLS needs it), if any."""
    env = {k: os.environ[k] for k in PIP_ENV if os.environ.get(k)
           and "file:" not in os.environ[k]}  # host paths mean nothing in the container
    for k in CA_ENV:
        if os.environ.get(k) and Path(os.environ[k]).is_file():
            return {**env, "PIP_CERT": CA_PATH}, os.environ[k]
    return env, ""


def prepared_image(inst: Instance, base: str, repos_dir: Path, timeout: float) -> str:
    """The tag of `base` with `inst`'s requirements installed, built on first use; '' when
    the instance needs nothing installed."""
    from filelock import FileLock

    from patchlore.sandbox.docker_backend import docker_client, require_image

    commit = inst.environment_setup_commit or inst.base_commit
    steps = install_steps(inst, repo_reader(mirror_of(inst.repo, repos_dir), commit))
    if not steps:
        return ""
    client = docker_client()
    script = setup_script(steps)
    key = hashlib.sha256(json.dumps([require_image(client, base).id, inst.repo, commit,
                                     script]).encode()).hexdigest()[:12]
    tag = f"patchlore-env:{inst.repo.replace('/', '__').lower()}-{key}"
    cache = _cache_dir()
    with FileLock(str(cache / f"{key}.lock")):  # parallel workers build it once
        if _exists(client, tag):
            return tag
        env, ca = setup_env()
        with tempfile.TemporaryDirectory(prefix="patchlore-env-") as tmp:
            repo = checkout(inst, repos_dir, Path(tmp), commit)
            derive_from_repo(client, base, tag, script, repo, env, ca, timeout,
                             cache / f"{key}.log", inst)
    return tag


def derive_from_repo(client, base: str, tag: str, script: str, repo: Path,
                     env: dict[str, str], ca: str, timeout: float, log: Path,
                     inst: Instance) -> None:
    from patchlore.sandbox.derive import derive_image
    from patchlore.sandbox.docker_backend import ENV_LABEL
    from patchlore.sandbox.snapshot import file_tar, snapshot_tar, take_snapshot

    files = [snapshot_tar(take_snapshot(repo), REPO.lstrip("/"), uid=0, gid=0)]
    if ca:
        files.append(file_tar({CA_PATH: Path(ca).read_bytes()}))
    try:
        derive_image(client, base, tag, script, files=files, env=env, timeout=timeout,
                     log_path=log, changes=[f"ENV {IMAGE_PATH}",
                                            f"LABEL {ENV_LABEL}={inst.repo}"])
    except PatchloreError as exc:
        raise PatchloreError(f"{inst.instance_id}: {exc.message}", hint=exc.hint) from None


def _exists(client, tag: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(tag)
        return True
    except ImageNotFound:
        return False


def _cache_dir() -> Path:
    from platformdirs import user_cache_dir

    path = Path(os.environ.get("PATCHLORE_CACHE_DIR") or user_cache_dir("patchlore")) / "env"
    path.mkdir(parents=True, exist_ok=True)
    return path
