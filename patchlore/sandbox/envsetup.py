"""The repo's requirements, installed into an image derived from the sandbox image.

Without this, the sandbox image has Python and pytest but none of the repo's dependencies. The
recipe is the `setup_cmd` setting when given; else the repo's requirement files
(`requirements.txt`, `requirements-test.txt`, ...) and, when the repo is a package, an editable
install of it with its test extras: the image then holds the dependencies, and the code under
test is the repo copied in later at the same path. Everything goes into a venv at
/opt/patchlore/venv that also sees the image's own packages (pytest), first on PATH.

The derived image is built once per base image, recipe and content of the files the recipe
reads (`patchlore-env:<repo>-<key>`), under a file lock so parallel runs build it once. The
build may use the network, with the host's pip settings and CA bundle; tests never do.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import tomllib
from collections.abc import Callable
from pathlib import Path

from patchlore.errors import PatchloreError
from patchlore.sandbox.snapshot import Snapshot, file_tar, snapshot_tar

VENV = "/opt/patchlore/venv"
REPO = "/repo"  # where the setup installs from: the sandbox copies the repo to the same path
CA_PATH = "/etc/patchlore/setup-ca.pem"
REQUIREMENT_FILES = ("requirements.txt", "requirements-test.txt", "requirements_test.txt",
                     "test-requirements.txt", "test_requirements.txt", "requirements-dev.txt",
                     "requirements/test.txt", "requirements/tests.txt", "requirements/dev.txt")
PACKAGING_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
TEST_EXTRAS = ("test", "tests", "testing")
PIP_ENV = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_DEFAULT_TIMEOUT",
           "PIP_RETRIES", "PIP_FIND_LINKS",
           "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
URL_LISTS = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS")
CA_ENV = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# so `pytest` (not only `python -m pytest`) runs under the venv's python
PYTEST_SHIM = f"#!{VENV}/bin/python\nimport sys\nfrom pytest import console_main\n" \
              "sys.exit(console_main())\n"

Reader = Callable[[str], "str | None"]


def recipe(read: Reader, setup_cmd: str = "") -> list[str]:
    """Shell steps, run in the repo with the venv first on PATH; `read(path)` gives one of
    the repo's files, or None. Empty: nothing to install."""
    if setup_cmd.strip():  # the user's (or the dataset row's) own recipe: never guess on top
        return [line for line in setup_cmd.splitlines() if line.strip()]
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


def snapshot_reader(snap: Snapshot) -> Reader:
    files = set(snap.files)

    def read(path: str) -> str | None:
        if path not in files:
            return None
        return (snap.root / path).read_text(errors="replace")
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
        # the repo is copied here again by every sandbox: the editable install points here
        f"cd / && rm -rf {REPO} {CA_PATH}", ""])


def setup_env() -> tuple[dict[str, str], str]:
    """The host's pip settings for the setup container, and its CA bundle (a proxy that
    re-signs TLS needs it), if any."""
    env = {}
    for k in PIP_ENV:
        value = os.environ.get(k, "")
        if k in URL_LISTS:  # host paths and file: URLs mean nothing in the container
            value = " ".join(u for u in value.split() if u.startswith(("http://", "https://")))
        if value:
            env[k] = value
    for k in CA_ENV:
        if os.environ.get(k) and Path(os.environ[k]).is_file():
            return {**env, "PIP_CERT": CA_PATH}, os.environ[k]
    return env, ""


def plan(client, base: str, snap: Snapshot, setup_cmd: str = "",
         name: str = "") -> tuple[list[str], str]:
    """The install steps for the repo, and the tag of the image that holds their result
    (`base` itself when there is nothing to install)."""
    from patchlore.sandbox.docker_backend import require_image

    read = snapshot_reader(snap)
    inputs = {f: read(f) for f in (*REQUIREMENT_FILES, *PACKAGING_FILES)}  # read once
    steps = recipe(inputs.get, setup_cmd)
    if not steps:
        return [], base
    key = hashlib.sha256(json.dumps([require_image(client, base).id, setup_script(steps),
                                     inputs], sort_keys=True).encode()).hexdigest()[:12]
    slug = re.sub(r"[^a-z0-9_.-]+", "-", (name or snap.root.name).replace("/", "__").lower()
                  ).strip("-.")[:60]
    return steps, f"patchlore-env:{slug or 'repo'}-{key}"


def image_with_requirements(client, base: str, snap: Snapshot, setup_cmd: str = "",
                            name: str = "", note: Callable[[str], None] = lambda m: None,
                            timeout: float = 1800.0) -> str:
    """`base` with the repo's requirements installed (built on first use), or `base` itself
    when there is nothing to install."""
    from filelock import FileLock

    from patchlore.sandbox.derive import derive_image
    from patchlore.sandbox.docker_backend import ENV_LABEL, require_image

    steps, tag = plan(client, base, snap, setup_cmd, name)
    if not steps:
        return base
    key = tag.rsplit("-", 1)[1]
    cache = _cache_dir()
    with FileLock(str(cache / f"{key}.lock")):  # parallel runs build it once
        if exists(client, tag):
            return tag
        note(f"installing the repo's requirements into {tag} (once; later runs reuse it)")
        env, ca = setup_env()
        files = [snapshot_tar(snap, REPO.lstrip("/"), uid=0, gid=0)]
        if ca:
            files.append(file_tar({CA_PATH: Path(ca).read_bytes()}))
        log = cache / f"{key}.log"
        path = next((e[5:] for e in require_image(client, base).attrs["Config"].get("Env") or []
                     if e.startswith("PATH=")), DEFAULT_PATH)  # keep the base image's own
        try:
            derive_image(client, base, tag, setup_script(steps), files=files, env=env,
                         timeout=timeout, log_path=log,
                         changes=[f"ENV PATH={VENV}/bin:{path}", f"LABEL {ENV_LABEL}={tag}"])
        except PatchloreError as exc:
            raise PatchloreError(exc.message, hint=f"see {log}; set setup_cmd to the commands "
                                 "that install the requirements, or --no-setup") from None
    return tag


def exists(client, tag: str) -> bool:
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
