"""The repo's requirements, installed into an image derived from the sandbox image.

Without this, the sandbox image has Python and pytest but none of the repo's dependencies. The
recipe is the `setup_cmd` setting when given; else the repo's requirement files
(`requirements.txt`, `requirements-test.txt`, ...) and, when the repo is a package, an editable
install of it with its test extras: the image then holds the dependencies, and the code under
test is the repo copied in later at the same path. Everything goes into a venv at
/opt/patchlore/venv, first on PATH, that does not see the image's own packages: the project's
pytest (else pytest as of its date) with the pytest-timeout release that fits it, never the
image's pytest and plugins, which an old pytest cannot load (TEST_TOOLS). Files the build
writes into the repo (setuptools-scm's `_version.py`, extensions compiled in place) are kept
in the image and laid into every sandbox's copy (ctl.sh), which ignores them (no diff shows
them) and lays them again at every reset; a patch to the C code compiles them again there.

Time travel: the guessed recipe installs with uv (the host's binary, copied in for the build
only), no newer than the code's date (`Bounds.date`: uv's exclude-newer; setuptools never older
than its first PEP 660 releases, which editable installs need). A copy without .git gets a
pretend version (`Bounds.version`), for setuptools-scm and the like.

The derived image is built once per base image, recipe, date bound and content of the files the
recipe reads (`patchlore-env:<repo>-<key>`), under a file lock so parallel runs build it once.
The build may use the network, with the host's pip settings and CA bundle; tests never do.
"""

from __future__ import annotations

import configparser
import datetime as dt
import functools
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from patchlore.errors import PatchloreError
from patchlore.sandbox.snapshot import Snapshot, file_tar, snapshot_tar

VENV = "/opt/patchlore/venv"
REPO = "/repo"  # where the setup installs from: the sandbox copies the repo to the same path
CA_PATH = "/etc/patchlore/setup-ca.pem"
REQUIREMENT_FILES = ("requirements.txt", "requirements-test.txt", "requirements_test.txt",
                     "test-requirements.txt", "test_requirements.txt", "requirements-dev.txt",
                     "requirements_dev.txt", "requirements/test.txt", "requirements/tests.txt",
                     "requirements/dev.txt")
PACKAGING_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "tox.ini")
TOX_DEPS = "/tmp/patchlore-tox-deps.txt"
TEST_EXTRAS = ("test", "tests", "testing")
TEST_GROUPS = (*TEST_EXTRAS, "dev")  # PEP 735 dependency groups: uv installs them
PIP_ENV = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_DEFAULT_TIMEOUT",
           "PIP_RETRIES", "PIP_FIND_LINKS",
           "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
URL_LISTS = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS")
CA_ENV = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
UV_FROM_PIP = {"PIP_INDEX_URL": "UV_INDEX_URL", "PIP_EXTRA_INDEX_URL": "UV_EXTRA_INDEX_URL",
               "PIP_TRUSTED_HOST": "UV_INSECURE_HOST"}
UV = "/opt/patchlore/bin/uv"  # the host's, for the build only
UV_CONFIG = "/opt/patchlore/uv.toml"
# setuptools 65 (late 2022) builds any setup.py project editable by PEP 660, as uv needs
SETUPTOOLS_FLOOR = dt.date(2022, 12, 1)
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# so `pytest` (not only `python -m pytest`) runs under the venv's python, also with a pytest
# older than 3.0 (which installs only `py.test`); pytest.main is in every release
PYTEST_SHIM = f"#!{VENV}/bin/python\nimport sys\nimport pytest\n\nsys.exit(pytest.main())\n"
BUILT = "/opt/patchlore/built.tar"  # the files the build wrote into the repo (ctl.sh lays them)
COMPILED = (".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".pyx", ".pxd", ".pxi")  # as ctl.sh's

Reader = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Bounds:
    """What the code's time says about its environment."""

    date: dt.date | None = None  # dependencies no newer than this day (None: today's)
    version: str = ""  # the version a copy without .git pretends to be ('' : none)
    # the code's own day, when `date` had to be later (the Python is younger than the code):
    # the test tools come from this day, the rest from `date`
    code: dt.date | None = None


def recipe(read: Reader, setup_cmd: str = "", uv: bool = False) -> list[str]:
    """Shell steps, run in the repo with the venv first on PATH; `read(path)` gives one of
    the repo's files, or None. Empty: nothing to install. With `uv`, uv installs."""
    if setup_cmd.strip():  # the user's (or the dataset row's) own recipe: never guess on top
        return [line for line in setup_cmd.splitlines() if line.strip()]
    install = "uv pip install" if uv else "python -m pip install"
    tox_extras, tox_files, tox_deps = tox_testenv(read)
    files = [f for f in dict.fromkeys([*REQUIREMENT_FILES, *tox_files]) if read(f) is not None]
    # a test or dev file that does not resolve as a whole (a line yanked since, say) goes in
    # line by line: the tests may not need what is left out; the repo's own needs must install
    steps = [f"{install} -r {f}" + ("" if f == REQUIREMENT_FILES[0] else f" || install_lines {f}")
             for f in files]
    if tox_deps:
        steps.append(f"printf '%s\\n' {shlex.join(tox_deps)} > {TOX_DEPS} && "
                     f"{{ {install} -r {TOX_DEPS} || install_lines {TOX_DEPS}; }}")
    meta = _pyproject(read)
    if read("setup.py") is not None or "project" in meta or "build-system" in meta:
        declared = declared_extras(read, meta)
        extras = [e for e in dict.fromkeys([*TEST_EXTRAS, *tox_extras]) if e in declared]
        target = "." + (f"[{','.join(extras)}]" if extras else "")
        step = f"{install} -e " + shlex.quote(target)
        requires = meta.get("build-system", {}).get("requires", [])
        if uv and any(re.match(r"\s*setuptools\s*[<>=!~,\s\d.]*(<|~=|==)", r) for r in requires):
            # setuptools pinned below PEP 660 (which uv's editable install needs): if the
            # isolated build fails, build without isolation with a setuptools that has it
            others = [r for r in requires
                      if not re.match(r"\s*(setuptools|wheel)\s*([^\w.-]|$)", r)]
            step += (f" || {{ uv pip install 'setuptools>=64' wheel {shlex.join(others)}".rstrip()
                     + f" && uv pip install --no-build-isolation -e {shlex.quote(target)}; }}")
        if extras:
            # one requirement of an extra that does not build (an old sdist) must not cost the
            # whole environment: the package alone, then the extras' requirements one by one
            step += f" || {{ {install} -e . && install_extras {shlex.join(extras)}; }}"
        steps.append(step)
        groups = [g for g in TEST_GROUPS if g in meta.get("dependency-groups", {})]
        if uv and groups:
            steps.append("uv pip install " + " ".join(f"--group {g}" for g in groups))
    return steps


def tox_testenv(read: Reader) -> tuple[list[str], list[str], list[str]]:
    """What tox installs for the project's tests ([testenv]): its extras, its requirement files
    (`-r`) and its other deps; lines for some factors only, or with substitutions, are left out."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(read("tox.ini") or "")
    except configparser.Error:
        return [], [], []
    if not parser.has_section("testenv"):
        return [], [], []
    env = parser["testenv"]
    # `{env:VAR:default}`: tox's own default, as a run with VAR unset gets it
    extras = [e for e in re.split(r"[\s,]+", re.sub(r"\{env:[^:}]*:([^}]*)\}", r"\1",
                                                    env.get("extras", ""))) if e]
    files, deps = [], []
    for line in env.get("deps", "").splitlines():
        line = line.split(" #")[0].strip()
        named = re.match(r"-r\s*(?:\{toxinidir\}/)?([^\s{]+)$", line)
        if named:
            files.append(named.group(1))
        elif line and not re.match(r"[-#]|[\w.,-]+:\s", line) and "{" not in line:
            deps.append(line)
    return extras, files, deps


def declared_extras(read: Reader, meta: dict) -> set[str]:
    """The extras a project declares: pyproject's optional-dependencies, the keys of
    setup.cfg's [options.extras_require], and dict keys in setup.py that look like extras
    (in a literal, or assigned: `EXTRAS["tests"] = ...`)."""
    found = set(meta.get("project", {}).get("optional-dependencies", {}))
    cfg = re.search(r"^\[options\.extras_require\]\n(.*?)(?=^\[|\Z)", read("setup.cfg") or "",
                    re.MULTILINE | re.DOTALL)
    if cfg:
        found |= set(re.findall(r"^([\w.-]+)\s*=", cfg.group(1), re.MULTILINE))
    return found | set(re.findall(r"['\"]([\w.-]+)['\"]\s*(?::|\]\s*=[^=])",
                                  read("setup.py") or ""))


def _pyproject(read: Reader) -> dict:
    try:
        return tomllib.loads(read("pyproject.toml") or "")
    except tomllib.TOMLDecodeError:
        return {}


def dist_name(read: Reader) -> str:
    """The project's distribution name from its metadata, or ''."""
    name = _pyproject(read).get("project", {}).get("name", "")
    for file, pattern in (("setup.cfg", r"^\s*name\s*=\s*([\w.-]+)\s*$"),
                          ("setup.py", r"\bname\s*=\s*['\"]([\w.-]+)['\"]")):
        if not name:
            m = re.search(pattern, read(file) or "", re.MULTILINE)
            name = m.group(1) if m else ""
    return name


def pretend_version(read: Reader, version: str) -> dict[str, str]:
    """setuptools-scm's pretend version for this project, or {}: the per-dist form when the
    name is known (setuptools-scm 6.1+ prefers it to the plain one, so a dependency built from
    source with one of those keeps its own) and the plain form always, the only one that the
    setuptools-scm a build dated before 2021 resolves to reads."""
    if not version:
        return {}
    name = dist_name(read)
    per_dist = {"SETUPTOOLS_SCM_PRETEND_VERSION_FOR_" + re.sub(r"[-_.]+", "_", name).upper():
                version} if name else {}
    return {"SETUPTOOLS_SCM_PRETEND_VERSION": version, **per_dist}


def repo_bounds(repo: str, date: str = "") -> Bounds:
    """The date bound (`date` if given: an ISO day, or 'none'; else the HEAD commit's day) and
    the version (the last tag) of the git repo at `repo`; empty where git cannot tell."""
    from packaging.version import InvalidVersion, Version

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True,
                                  timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    day = date or git("log", "-1", "--format=%cs", "HEAD")
    try:
        when = None if day in ("", "none") else dt.date.fromisoformat(day[:10])
    except ValueError:
        raise PatchloreError(f"deps_date = {date!r} is not a day",
                             hint="YYYY-MM-DD, or none for today's releases") from None
    try:
        version = str(Version(git("describe", "--tags", "--abbrev=0").lstrip("vV")))
    except InvalidVersion:
        version = "0.0.0"
    return Bounds(when, version)


_UV_LOCK = threading.Lock()


@functools.cache
def _uv_binary() -> str:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv") or ""


def uv_binary() -> str:
    """The uv binary that installs dependencies as of a date, or '' (then pip, unbounded).
    Found once, under a lock: find_uv_bin reads sysconfig, whose first read on Python 3.11 is
    not thread-safe (a parallel grade's second thread saw EXE None and ended in TypeError)."""
    with _UV_LOCK:
        return _uv_binary()


def snapshot_reader(snap: Snapshot) -> Reader:
    files = set(snap.files)

    def read(path: str) -> str | None:
        if path not in files:
            return None
        return (snap.root / path).read_text(errors="replace")
    return read


# the requirement lines of a file one at a time, with whichever installer the recipe uses;
# the lines that cannot be installed are named in the log and skipped
INSTALL_LINES = r"""install_lines() {
  if command -v uv >/dev/null; then set -- "$1" uv pip install; else set -- "$1" python -m pip install; fi
  f=$1; shift
  sed -e 's/[[:space:]]#.*//' -e '/^[[:space:]]*\(#\|-\|$\)/d' "$f" | while read -r req; do
    "$@" "$req" || echo "patchlore: skipped $req from $f: it does not install"
  done
}"""


# the requirements that the named extras of the project add, one at a time (install_lines):
# the project is the dist installed from the repo (PEP 610's direct_url.json), whatever its
# name (a setup.py's `name=NAME` cannot be read without running it)
INSTALL_EXTRAS = r"""install_extras() {
  python - "$@" > /tmp/patchlore-extras.txt <<'PY'
import importlib.metadata as m, json, re, sys
wanted = "|".join(re.escape(e) for e in sys.argv[1:])
for dist in m.distributions():
    if json.loads(dist.read_text("direct_url.json") or "{}").get("url") != "file://@REPO@":
        continue
    for req in dist.requires or []:
        spec, _, marker = req.partition(";")
        if re.search(rf"extra\s*==\s*['\"]({wanted})['\"]", marker):
            print(spec.strip())
PY
  echo "patchlore: the extras do not install as a whole: their requirements one by one"
  install_lines /tmp/patchlore-extras.txt
}""".replace("@REPO@", REPO)


# pip's legacy editable install writes the only metadata into the tree, which every sandbox
# replaces with its own copy: keep it where Python finds it (not beside a PEP 660 dist-info)
KEEP_EGG_INFO = r"""sp=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
for d in /repo/*.egg-info /repo/src/*.egg-info; do
  [ -d "$d" ] || continue
  ls -d "$sp/$(basename "$d" .egg-info)"-*.dist-info >/dev/null 2>&1 || mv "$d" "$sp"
done"""


# The files in the repo before the steps, and after: the new ones (minus build scratch and
# caches) are what the build wrote for the code to import (BUILT): setuptools-scm's version
# file, extensions compiled in place (and the C that Cython wrote for them)
LIST_FILES = "find . -path ./.git -prune -o -type f -print | LC_ALL=C sort"
KEEP_BUILT = rf"""{LIST_FILES} > /tmp/patchlore-after
LC_ALL=C comm -13 /tmp/patchlore-before /tmp/patchlore-after | grep -v -e '^\./build/' \
  -e '^\./dist/' -e '^\./\.eggs/' -e '^\./\.tox/' -e '/__pycache__/' -e '\.egg-info/' \
  -e '\.pyc$' -e '\.o$' > /tmp/patchlore-built || true
if [ -s /tmp/patchlore-built ]; then tar -cf {BUILT} -T /tmp/patchlore-built; fi"""

# A repo with compiled code gets, in the venv, what building it needs and is not there yet
# (--no-deps: nothing the tests run with changes), so that ctl.sh can compile it again
# offline after a patch to it (REBUILD, setup.py projects)
BUILD_TOOLS = r"""build_tools() {
  for req in "$@"; do
    name=$(printf '%s' "$req" | sed 's/[[:space:]<>=!~;[].*//')
    python -c 'import importlib.metadata as m, sys; m.version(sys.argv[1])' "$name" \
      2>/dev/null || uv pip install --no-deps "$req" \
      || echo "patchlore: $req does not install: a patch to the C code is not rebuilt"
  done
}"""
REBUILD = "python setup.py -q build_ext --inplace --build-temp /tmp/patchlore-build"

# What the tests run with, as a virtualenv of the code's time had it: setuptools (pytest < 5
# and many projects import pkg_resources); for code older than the image's Python (whose
# other dependencies come from when that Python's wheels were out), pytest and its plugins as
# of the code's own day (PL_CODE_DATE: a pytest of 2021 rejects a 2016 project's `[pytest]`
# section, and needs an attrs newer than attrs of 2016; pytest 3.0 with the deps of its day
# runs on 3.9); the project's own pytest when it runs on this Python, else the newest of the
# date, and with it the newest of the date of the pytest plugins installed (a plugin pinned
# for the old pytest may not load in the new one: pytest-cov 2.3's `pytest_funcarg__`
# hooks); then the pytest-timeout release that works
# with that pytest (PYTEST_TIMEOUT, sandbox/testrun.py), else none: the command's timeout
# stays the backstop. None of them fails the build (a suite may not be pytest's).
TEST_TOOLS = r"""python -c 'import setuptools' 2>/dev/null || uv pip install setuptools \
  || echo "patchlore: no setuptools in the environment: it does not install"
plugins=$(python -c 'import importlib.metadata as m, json
for d in m.distributions():
    url = json.loads(d.read_text("direct_url.json") or "{}").get("url")
    if url != "file://@REPO@" and any(e.group == "pytest11" for e in d.entry_points):
        print(d.metadata["Name"])' 2>/dev/null) || plugins=
if [ -n "${PL_CODE_DATE:-}" ]; then
  echo "patchlore: the code ($PL_CODE_DATE) is older than $(python -V 2>&1): pytest of its day"
  uv pip install --reinstall --exclude-newer "$PL_CODE_DATE" pytest $plugins \
    || echo "patchlore: no pytest of $PL_CODE_DATE installs here"
fi
mkdir -p /tmp/patchlore-probe && printf 'def test_ok():\n    pass\n' > /tmp/patchlore-probe/test_ok.py
if ! (cd /tmp/patchlore-probe && python -m pytest -q test_ok.py); then
  if python -c 'import pytest' 2>/dev/null; then
    echo "patchlore: this pytest does not run on $(python -V 2>&1): the newest of the date instead"
  fi
  uv pip install --upgrade pytest $plugins || uv pip install --upgrade pytest \
    || echo "patchlore: no pytest in the environment: it does not install"
fi
rm -rf /tmp/patchlore-probe
if v=$(python -c 'import pytest; print(pytest.__version__)') \
    && ! python -c 'import pytest_timeout' 2>/dev/null; then
  uv pip install pytest-timeout "pytest==$v" \
    || echo "patchlore: no pytest-timeout for pytest $v: no per-test time limit"
fi""".replace("@REPO@", REPO)


# pytest rewrites the asserts of a plugin (a `pytest11` entry point) by the modules its
# distribution records; an editable install by PEP 660 records none (only its .pth or finder),
# so a plugin's own assertion messages are bare and tests that compare them fail, while the
# regular install that tox and CI make records them all (pytest-dev/pytest#11783). The
# environment's editable plugins record their modules as that install would.
RECORD_PLUGINS = r"""python - <<'PY' || echo "patchlore: the editable plugins' modules are not recorded"
import importlib.metadata as m, importlib.util, json, os
for dist in m.distributions():
    url = json.loads(dist.read_text("direct_url.json") or "{}")
    tops = {ep.value.split(":")[0].split(".")[0] for ep in dist.entry_points
            if ep.group == "pytest11"}
    record = [f for f in dist.files or [] if f.name == "RECORD"]
    if not (url.get("dir_info", {}).get("editable") and tops and record):
        continue
    lines = []
    for top in sorted(tops):
        spec = importlib.util.find_spec(top)
        if spec and spec.submodule_search_locations:
            root = list(spec.submodule_search_locations)[0]
            lines += [os.path.join(top, os.path.relpath(os.path.join(d, f), root))
                      for d, _, fs in os.walk(root) for f in fs if f.endswith(".py")]
        elif spec and spec.origin and spec.origin.endswith(".py"):
            lines.append(top + ".py")
    with open(record[0].locate(), "a") as fh:
        fh.writelines(f"{line},,\n" for line in sorted(lines))
PY"""


def uv_config(date: dt.date | None) -> str:
    if date is None:
        return ""
    floor = max(date, SETUPTOOLS_FLOOR).isoformat()  # pip too: an older one fails on 3.9+
    return (f'exclude-newer = "{date.isoformat()}"\n[exclude-newer-package]\n'
            f'setuptools = "{floor}"\npip = "{floor}"\n')


def setup_script(steps: list[str], date: dt.date | None = None,
                 pretend: dict[str, str] | None = None, uv: bool = True,
                 own_recipe: bool = False, build_requires: list[str] | None = None,
                 code_date: dt.date | None = None) -> str:
    """The build's shell script. With `uv`, the venv is the project's alone (pip in it only
    for `own_recipe`, the user's commands, which may call it); without, pip is the image's
    own and the venv sees the image's packages, pytest's plugins among them.
    `build_requires`: what compiling the repo's extensions again needs (None: no such code).
    `code_date`: the code's own day, when `date` is later (Bounds.code)."""
    exports = {"PATH": f"{VENV}/bin:{Path(UV).parent}:$PATH", "PIP_NO_CACHE_DIR": "1",
               "PIP_DISABLE_PIP_VERSION_CHECK": "1", "VIRTUAL_ENV": VENV,
               "UV_CACHE_DIR": "/tmp/uv-cache", "UV_LINK_MODE": "copy",
               "UV_PYTHON_DOWNLOADS": "never", **(pretend or {})}
    config = uv_config(date)
    if config:
        exports["UV_CONFIG_FILE"] = UV_CONFIG
        if code_date:
            exports["PL_CODE_DATE"] = code_date.isoformat()
    return "\n".join([
        "set -eux",
        INSTALL_LINES,
        INSTALL_EXTRAS,
        f"python3 -m venv --without-pip {'' if uv else '--system-site-packages '}{VENV}",
        "export " + " ".join(f"{k}={v}" for k, v in exports.items()),
        *([f"printf '%s' {shlex.quote(config)} > {UV_CONFIG}"] if config else []),
        *(["uv pip install pip"] if uv and own_recipe else []),
        f"cd {REPO}",
        f"{LIST_FILES} > /tmp/patchlore-before",
        *steps,
        *([TEST_TOOLS] if uv else []),
        *([BUILD_TOOLS, "build_tools " + shlex.join(build_requires)]
          if uv and build_requires else []),
        f"[ -e {VENV}/bin/pytest ] || {{ printf '%s' {shlex.quote(PYTEST_SHIM)} "
        f"> {VENV}/bin/pytest; chmod 755 {VENV}/bin/pytest; }}",
        RECORD_PLUGINS,
        KEEP_EGG_INFO,
        KEEP_BUILT,
        # the repo is copied here again by every sandbox: the editable install points here
        f"cd / && rm -rf {REPO} {CA_PATH} /tmp/uv-cache {UV} {UV_CONFIG}", ""])


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
            if k in UV_FROM_PIP:
                env[UV_FROM_PIP[k]] = value
    for k in CA_ENV:
        if os.environ.get(k) and Path(os.environ[k]).is_file():
            return {**env, "PIP_CERT": CA_PATH, "SSL_CERT_FILE": CA_PATH}, os.environ[k]
    return env, ""


@dataclass
class Plan:
    steps: list[str]  # empty: nothing to install
    tag: str  # the image that holds their result (the base itself when there are none)
    script: str = ""
    pretend: dict[str, str] | None = None
    uv: str = ""  # the host's uv binary, when uv installs
    rebuild: str = ""  # the command that compiles the repo's extensions again (ctl.sh)


def plan(client, base: str, snap: Snapshot, setup_cmd: str = "", name: str = "",
         bounds: Bounds = Bounds()) -> Plan:
    """The install steps for the repo, and the tag of the image that holds their result."""
    from patchlore.sandbox.docker_backend import require_image

    read = snapshot_reader(snap)
    inputs = {f: read(f) for f in (*REQUIREMENT_FILES, *PACKAGING_FILES)}  # read once
    inputs.update({f: read(f) for f in tox_testenv(inputs.get)[1] if f not in inputs})
    uv = uv_binary()
    steps = recipe(inputs.get, setup_cmd, uv=bool(uv))
    if not steps:
        return Plan([], base)
    pretend = pretend_version(inputs.get, bounds.version)
    compiled = {f: hashlib.sha256((snap.root / f).read_bytes()).hexdigest()
                for f in snap.files if f.endswith(COMPILED)}
    script = setup_script(steps, bounds.date if uv else None, pretend, bool(uv),
                          bool(setup_cmd.strip()), build_requires(inputs.get, compiled),
                          bounds.code)
    uv_version = subprocess.run([uv, "--version"], capture_output=True, text=True
                                ).stdout.strip() if uv else ""
    # the compiled code too: an image's extensions are those of the commit it was built from
    key = hashlib.sha256(json.dumps([require_image(client, base).id, script, inputs, uv_version,
                                     compiled], sort_keys=True).encode()).hexdigest()[:12]
    slug = re.sub(r"[^a-z0-9_.-]+", "-", (name or snap.root.name).replace("/", "__").lower()
                  ).strip("-.")[:60]
    rebuild = REBUILD if compiled and read("setup.py") is not None else ""
    return Plan(steps, f"patchlore-env:{slug or 'repo'}-{key}", script, pretend, uv, rebuild)


def build_requires(read: Reader, compiled) -> list[str] | None:
    """What building the repo's compiled code needs: its build-system requires (setuptools
    and wheel for a setup.py of its own, Cython for .pyx sources), or None without such code."""
    if not compiled:
        return None
    found = _pyproject(read).get("build-system", {}).get("requires") or ["setuptools", "wheel"]
    if any(f.endswith(".pyx") for f in compiled) and not any(
            re.match(r"\s*cython\b", r, re.IGNORECASE) for r in found):
        found = [*found, "Cython"]
    return found


def image_with_requirements(client, base: str, snap: Snapshot, setup_cmd: str = "",
                            name: str = "", note: Callable[[str], None] = lambda m: None,
                            timeout: float = 1800.0, bounds: Bounds = Bounds()) -> str:
    """`base` with the repo's requirements installed (built on first use), or `base` itself
    when there is nothing to install."""
    from filelock import FileLock

    from patchlore.sandbox.env.derive import derive_image
    from patchlore.sandbox.docker_backend import ENV_LABEL, require_image

    made = plan(client, base, snap, setup_cmd, name, bounds)
    tag = made.tag
    if not made.steps:
        return base
    key = tag.rsplit("-", 1)[1]
    cache = cache_dir()
    with FileLock(str(cache / f"{key}.lock")):  # parallel runs build it once
        if exists(client, tag):
            return tag
        note(f"installing the repo's requirements into {tag} (once; later runs reuse it)")
        env, ca = setup_env()
        files = [snapshot_tar(snap, REPO.lstrip("/"), uid=0, gid=0)]
        if ca:
            files.append(file_tar({CA_PATH: Path(ca).read_bytes()}))
        if made.uv:
            files.append(file_tar({UV: Path(made.uv).read_bytes()}, mode=0o755))
        log = cache / f"{key}.log"
        path = next((e[5:] for e in require_image(client, base).attrs["Config"].get("Env") or []
                     if e.startswith("PATH=")), DEFAULT_PATH)  # keep the base image's own
        try:
            derive_image(client, base, tag, made.script, files=files, env=env,
                         timeout=timeout, log_path=log,
                         changes=[f"ENV PATH={VENV}/bin:{path}", f"LABEL {ENV_LABEL}={tag}",
                                  f"ENV PATCHLORE_BUILT={BUILT}",
                                  *([f'ENV PATCHLORE_REBUILD="{made.rebuild}"']
                                    if made.rebuild else []),
                                  *(f"ENV {k}={v}" for k, v in (made.pretend or {}).items())])
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


def cache_dir() -> Path:
    from platformdirs import user_cache_dir

    path = Path(os.environ.get("PATCHLORE_CACHE_DIR") or user_cache_dir("patchlore")) / "env"
    path.mkdir(parents=True, exist_ok=True)
    return path
