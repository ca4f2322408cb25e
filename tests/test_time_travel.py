"""Environments as of the code's time, for real: dependencies no newer than the instance's date
(uv's exclude-newer against an index the test serves, with upload times), a setuptools-scm
package installed from a copy without .git, the Python image a repo's metadata calls for, and
a hanging test that fails alone within seconds."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from pkgindex import PackageIndex, build_wheel, diff_of, git, make_tinycalc, write_tree
from patchlore.sandbox.env.pyversion import choose
from test_env_setup import env_images, grade  # noqa: F401  (a fixture)


@pytest.fixture
def index(tmp_path, docker_ready):
    served = PackageIndex(tmp_path / "index")
    try:
        yield served
    finally:
        served.close()


def test_dependencies_resolve_as_of_the_instance_s_date(index, env_images, tmp_path):
    # 1.0 in 2020 (in PackageIndex), 2.0 in mid-2025, which breaks the instance's tests
    index.add(build_wheel(tmp_path / "src2", tmp_path, "pl-tinydep", "2.0",
                          "def double(x):\n    return 3 * x\n"), "2025-06-01T00:00:00Z")
    data = {"path": tmp_path / "d.jsonl", "repos": tmp_path / "repos"}
    row = make_tinycalc(data["repos"], data["path"])
    repo = data["repos"] / "patchlore__tinycalc"
    (repo / "requirements.txt").write_text("pl-tinydep\n")  # unpinned
    git(repo, "commit", "-qam", "any pl-tinydep")
    row.update(base_commit=git(repo, "rev-parse", "HEAD").strip(),
               created_at="2024-06-01T12:00:00Z")
    data["path"].write_text(json.dumps(row) + "\n")
    env = {**index.env, "PATCHLORE_CACHE_DIR": str(tmp_path / "cache")}

    dated = grade(data, tmp_path / "dated", env)
    assert json.loads(dated.stdout)["resolved_ids"] == ["patchlore__tinycalc-1"], dated.stderr
    (log,) = (tmp_path / "cache" / "env").glob("*.log")
    assert "+ pl-tinydep==1.0" in log.read_text()
    assert 'exclude-newer = "2024-06-01"' in log.read_text()

    # the setting overrides the row: today's releases, 2.0, and the gold patch fails
    today = grade(data, tmp_path / "today", {**env, "PATCHLORE_DEPS_DATE": "none"})
    assert json.loads(today.stdout)["unresolved_ids"] == ["patchlore__tinycalc-1"]
    assert len(env_images()) == 2  # the date bound is part of the image's key
    assert any("+ pl-tinydep==2.0" in p.read_text()
               for p in (tmp_path / "cache" / "env").glob("*.log"))


@pytest.fixture(scope="module")
def build_wheels(tmp_path_factory) -> Path:
    """setuptools and setuptools-scm wheels from this machine's package index, once."""
    dest = tmp_path_factory.mktemp("wheels")
    done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
                           "--python-version", "3.11", "--dest", str(dest), "setuptools>=64",
                           "setuptools-scm>=8"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-1000:]
    return dest


SCM_PYPROJECT = """[build-system]
requires = ["setuptools>=64", "setuptools-scm>=8"]
build-backend = "setuptools.build_meta"

[project]
name = "scm-pkg"
dynamic = ["version"]

[tool.setuptools_scm]
"""
SCM_CODE = "from importlib.metadata import version\n\nVERSION = version('scm-pkg')\n"
SCM_TEST = "from scm_pkg import VERSION\n\n\ndef test_version():\n    assert VERSION == '1.4.2'\n"


def scm_dataset(tmp_path: Path, build: dict[str, str]) -> dict:
    """A one-row dataset of a setuptools-scm project tagged v1.4.2, built by `build`'s files;
    the row's test reads the installed version."""
    repo = tmp_path / "repos" / "o__scm"
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    write_tree(repo, {**build, "src/scm_pkg/__init__.py": SCM_CODE,
                      "tests/test_scm.py": "def test_ok():\n    assert True\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "tag", "v1.4.2")
    row = {"instance_id": "o__scm-1", "repo": "o/scm", "problem_statement": "p",
           "base_commit": git(repo, "rev-parse", "HEAD").strip(),
           "patch": diff_of(repo, {"src/scm_pkg/__init__.py": SCM_CODE + "X = 1\n"}),
           "test_patch": diff_of(repo, {"tests/test_scm.py": SCM_TEST}),
           "FAIL_TO_PASS": ["tests/test_scm.py::test_version"], "PASS_TO_PASS": []}
    (tmp_path / "d.jsonl").write_text(json.dumps(row) + "\n")
    return {"path": tmp_path / "d.jsonl", "repos": tmp_path / "repos"}


def test_a_setuptools_scm_package_installs_from_a_copy_without_git(index, build_wheels,
                                                                    env_images, tmp_path):
    for wheel in build_wheels.glob("*.whl"):
        index.add(wheel, "2024-01-01T00:00:00Z")
    data = scm_dataset(tmp_path, {"pyproject.toml": SCM_PYPROJECT})
    res = grade(data, tmp_path / "out", {**index.env, "PATCHLORE_CACHE_DIR": str(tmp_path)})
    (log,) = (tmp_path / "env").glob("*.log")
    assert json.loads(res.stdout)["resolved_ids"] == ["o__scm-1"], log.read_text()[-3000:]
    assert "SETUPTOOLS_SCM_PRETEND_VERSION_FOR_SCM_PKG=1.4.2" in log.read_text()
    assert "+ scm-pkg==1.4.2 (from file:///repo)" in log.read_text()


OLD_SCM_PYPROJECT = """[build-system]
requires = ["setuptools>=64", "setuptools-scm<5"]
build-backend = "setuptools.build_meta"
"""
OLD_SCM_SETUP = ("from setuptools import setup\n\nsetup(name='scm-pkg', use_scm_version=True, "
                 "package_dir={'': 'src'}, packages=['scm_pkg'])\n")


def test_an_old_setuptools_scm_build_gets_the_pretend_version_too(index, env_images, tmp_path):
    """setuptools-scm before 6 reads only SETUPTOOLS_SCM_PRETEND_VERSION, not the per-dist
    variable: a copy without .git of a project built with one must still install."""
    old = tmp_path / "old-scm"
    done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                           "--only-binary=:all:", "--dest", str(old), "setuptools-scm==4.1.2",
                           "setuptools==69.5.1", "wheel==0.43.0"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-1000:]
    for wheel in old.glob("*.whl"):  # a setuptools that still has pkg_resources, as 4.1.2 needs
        index.add(wheel, "2024-01-01T00:00:00Z")
    data = scm_dataset(tmp_path, {"pyproject.toml": OLD_SCM_PYPROJECT,
                                  "setup.py": OLD_SCM_SETUP})
    res = grade(data, tmp_path / "out", {**index.env, "PATCHLORE_CACHE_DIR": str(tmp_path)})
    (log,) = (tmp_path / "env").glob("*.log")
    assert json.loads(res.stdout)["resolved_ids"] == ["o__scm-1"], log.read_text()[-3000:]
    assert "+ scm-pkg==1.4.2 (from file:///repo)" in log.read_text()


def test_the_python_image_follows_the_metadata_and_the_date():
    old = {"setup.py": "setup(name='x', python_requires='>=3.6, <3.10')"}
    choice = choose(old.get, [], dt.date(2023, 6, 1))
    assert (choice.python, choice.required) == ("3.9", True)
    assert "requires-python '>=3.6, <3.10'" in choice.why
    # no metadata: the default Python once its wheels were out, else the oldest image, and
    # dependencies no older than that Python's wheels
    assert choose({}.get, [], dt.date(2024, 1, 1)).python == "3.11"
    early = choose({}.get, [], dt.date(2019, 8, 1))
    assert (early.python, early.date) == ("3.9", dt.date(2021, 2, 2))
    # the versions a project says it is tested on: classifiers, tox, CI
    tox = {"tox.ini": "[tox]\nenvlist = py37, py38, py39\n"}
    assert choose(tox.get, [], dt.date(2024, 1, 1)).python == "3.9"
    ci = {".github/workflows/t.yml": "python-version: ['3.8', '3.9', '3.10']\n"}
    assert choose(ci.get, list(ci), dt.date(2024, 1, 1)).python == "3.9"
    new = {"pyproject.toml": '[project]\nrequires-python = ">=3.12"\n'}
    assert choose(new.get, [], dt.date(2026, 1, 1)).python == "3.13"


def test_a_repo_that_requires_python_below_3_10_runs_on_the_3_9_image(tmp_path, docker_ready):
    repo = tmp_path / "old"
    repo.mkdir()
    git(repo, "init", "-q")
    write_tree(repo, {"setup.cfg": "[metadata]\nname = old\n[options]\npython_requires = <3.10\n",
                      "test_v.py": "import sys\n\n\ndef test_v():\n"
                                   "    assert sys.version_info[:2] == (3, 9)\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "old")
    env = {"PATCHLORE_CACHE_DIR": str(tmp_path / "cache")}
    res = run_cli("doctor", "--json", "--repo", str(repo), env=env)
    check = next(c for c in json.loads(res.stdout)["checks"] if c["name"] == "requirements")
    assert "on patchlore-sandbox:py3.9 (Python 3.9: requires-python '<3.10'" in check["detail"]
    ran = run_cli("sandbox", "exec", "--repo", str(repo), "--sandbox", "docker", "--",
                  "python3 -m pytest -q", env=env)
    assert ran.returncode == 0 and "1 passed" in ran.stdout, ran.stdout + ran.stderr
    # asked for another Python, the same repo gets it, and fails its own check
    pinned = run_cli("sandbox", "exec", "--repo", str(repo), "--sandbox", "docker", "--",
                     "python3 -m pytest -q", env={**env, "PATCHLORE_PYTHON": "3.11"})
    assert pinned.returncode == 1 and "1 failed" in pinned.stdout


def test_a_sandbox_image_of_another_tag_stands_for_its_family(tmp_path, docker_ready):
    """An `image` that `patchlore sandbox build` made (default Python) under another tag: a
    repo that needs 3.9 gets the `:py3.9` beside it, not that image's 3.11."""
    from conftest import IMAGE, remove_images
    from patchlore.sandbox.docker_backend import docker_client

    repo = tmp_path / "old"
    repo.mkdir()
    git(repo, "init", "-q")
    write_tree(repo, {"setup.cfg": "[metadata]\nname = old\n[options]\npython_requires = <3.10\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "old")
    tag = f"patchlore-test-family-{tmp_path.name.lower()}:latest"
    box = docker_client().containers.create(IMAGE, ["true"])
    try:  # the sandbox image, labels and all, under a tag of this test's own
        box.commit(*tag.split(":"))
    finally:
        box.remove(force=True)
    try:
        res = run_cli("doctor", "--json", "--repo", str(repo),
                      env={"PATCHLORE_CACHE_DIR": str(tmp_path / "cache"), "PATCHLORE_IMAGE": tag})
        check = next(c for c in json.loads(res.stdout)["checks"] if c["name"] == "requirements")
        assert check["status"] == "fail", check
        assert f"{tag.split(':')[0]}:py3.9 is not built" in check["detail"], check
    finally:
        remove_images([tag])


HANG = """import time


def test_fast():
    assert True


def test_hangs():
    time.sleep(600)


def test_after():
    assert True
"""


def test_a_hanging_test_fails_alone_within_seconds(tmp_path, docker_ready):
    repo = tmp_path / "hang"
    repo.mkdir()
    git(repo, "init", "-q")
    write_tree(repo, {"test_hang.py": HANG})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "hang")
    # without the per-test limit the command would time out (exit 124) with no outcomes
    res = run_cli("sandbox", "exec", "--repo", str(repo), "--sandbox", "docker", "--json",
                  "--timeout", "90", "--", "python3 -m pytest -q",
                  env={"PATCHLORE_TEST_TIME_LIMIT": "3"})
    out = json.loads(res.stdout)
    assert {k: v["status"] for k, v in out["tests"].items()} == {
        "test_hang.py::test_fast": "passed", "test_hang.py::test_hangs": "failed",
        "test_hang.py::test_after": "passed"}
    assert "Timeout" in out["tests"]["test_hang.py::test_hangs"]["message"]
    assert res.returncode == 1


ISOLATED = """import sys
import time

import pytest
import pytest_timeout


def test_the_tools_are_the_environment_s_own():
    assert [p for p in sys.path if "dist-packages" in p] == []
    assert pytest.__file__.startswith("/opt/patchlore/venv/"), pytest.__file__
    assert pytest_timeout.__file__.startswith("/opt/patchlore/venv/"), pytest_timeout.__file__


def test_hangs():
    time.sleep(600)
"""


def test_the_environment_holds_its_own_pytest_and_limit_not_the_sandbox_s(index, env_images,
                                                                            tmp_path):
    """The sandbox image's pytest and plugins (made for today's pytest) are not on the
    project's import path: the environment gets pytest as of its date and the pytest-timeout
    that fits it (from the index), and a hanging test still fails alone."""
    make_tinycalc(tmp_path / "repos", tmp_path / "d.jsonl")
    repo = tmp_path / "repos" / "patchlore__tinycalc"
    write_tree(repo, {"tests/test_iso.py": ISOLATED})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "isolated")
    env = {**index.env, "PATCHLORE_CACHE_DIR": str(tmp_path / "cache"),
           "PATCHLORE_TEST_TIME_LIMIT": "3"}
    res = run_cli("sandbox", "exec", "--repo", str(repo), "--sandbox", "docker", "--json",
                  "--timeout", "120", "--", "python3 -m pytest -q tests/test_iso.py", env=env,
                  timeout=600)
    (log,) = (tmp_path / "cache" / "env").glob("*.log")
    out = json.loads(res.stdout)
    assert {k: v["status"] for k, v in out["tests"].items()} == {
        "tests/test_iso.py::test_the_tools_are_the_environment_s_own": "passed",
        "tests/test_iso.py::test_hangs": "failed"}, log.read_text()[-3000:]
    assert "Timeout" in out["tests"]["tests/test_iso.py::test_hangs"]["message"]
    assert "+ pytest-timeout==2.4.0" in log.read_text()


SCM_WRITE_PYPROJECT = SCM_PYPROJECT + 'write_to = "src/scm_pkg/_version.py"\n'
SCM_WRITE_TEST = ("from scm_pkg._version import version\n\n\n"
                  "def test_version():\n    assert version == '1.4.2'\n")


def test_the_version_file_setuptools_scm_writes_reaches_every_sandbox(index, build_wheels,
                                                                      env_images, tmp_path):
    """setuptools-scm writes `_version.py` into the repo at build time (ignored by git), and
    every sandbox's fresh copy of the repo gets it (the grade resets it between its runs)."""
    for wheel in build_wheels.glob("*.whl"):
        index.add(wheel, "2024-01-01T00:00:00Z")
    data = scm_dataset(tmp_path, {"pyproject.toml": SCM_WRITE_PYPROJECT,
                                  ".gitignore": "src/scm_pkg/_version.py\n"})
    row = json.loads(data["path"].read_text())
    repo = data["repos"] / "o__scm"
    row["test_patch"] = diff_of(repo, {"tests/test_scm.py": SCM_WRITE_TEST})
    data["path"].write_text(json.dumps(row) + "\n")
    env = {**index.env, "PATCHLORE_CACHE_DIR": str(tmp_path)}
    res = grade(data, tmp_path / "out", env)
    (log,) = (tmp_path / "env").glob("*.log")
    assert json.loads(res.stdout)["resolved_ids"] == ["o__scm-1"], log.read_text()[-3000:]


C_EXT = """#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *twice(PyObject *self, PyObject *args) {
    long x;
    if (!PyArg_ParseTuple(args, "l", &x)) return NULL;
    return PyLong_FromLong(3 * x);
}

static PyMethodDef methods[] = {{"twice", twice, METH_VARARGS, ""}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "cext", NULL, -1, methods};
PyMODINIT_FUNC PyInit_cext(void) { return PyModule_Create(&module); }
"""
C_SETUP = ("from setuptools import Extension, setup\n\n"
           "setup(name='cext', version='0.1', ext_modules=[Extension('cext', ['cext.c'])])\n")
C_TEST = "import cext\n\n\ndef test_import():\n    assert cext.twice\n"
C_NEW_TEST = C_TEST + "\n\ndef test_twice():\n    assert cext.twice(2) == 4\n"


def test_a_c_extension_builds_and_a_patch_to_it_is_compiled_again(index, env_images,
                                                                  tmp_path):
    """The image has a compiler; the extension built in place reaches every sandbox, and a
    patch to its C code is compiled again before the tests (gold resolves; a patch that only
    adds a comment still fails the new test, and the old one passes)."""
    repo = tmp_path / "repos" / "o__cext"
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    write_tree(repo, {"setup.py": C_SETUP, "cext.c": C_EXT, "tests/test_c.py": C_TEST,
                      ".gitignore": "*.so\nbuild/\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    row = {"instance_id": "o__cext-1", "repo": "o/cext", "problem_statement": "p",
           "base_commit": git(repo, "rev-parse", "HEAD").strip(),
           "patch": diff_of(repo, {"cext.c": C_EXT.replace("3 * x", "2 * x")}),
           "test_patch": diff_of(repo, {"tests/test_c.py": C_NEW_TEST}),
           "FAIL_TO_PASS": ["tests/test_c.py::test_twice"],
           "PASS_TO_PASS": ["tests/test_c.py::test_import"]}
    (tmp_path / "d.jsonl").write_text(json.dumps(row) + "\n")
    data = {"path": tmp_path / "d.jsonl", "repos": tmp_path / "repos"}
    env = {**index.env, "PATCHLORE_CACHE_DIR": str(tmp_path)}
    gold = grade(data, tmp_path / "gold", env)
    (log,) = (tmp_path / "env").glob("*.log")
    assert json.loads(gold.stdout)["resolved_ids"] == ["o__cext-1"], log.read_text()[-3000:]
    # a patch to the C code that leaves the bug: compiled again too, and the test still fails
    other = {"instance_id": "o__cext-1", "model_name_or_path": "m",
             "model_patch": diff_of(repo, {"cext.c": "/* twice */\n" + C_EXT})}
    (tmp_path / "p.jsonl").write_text(json.dumps(other) + "\n")
    res = run_cli("eval", "grade", "--dataset", str(data["path"]), "--predictions",
                  str(tmp_path / "p.jsonl"), "--repos-dir", str(data["repos"]), "--output",
                  str(tmp_path / "other"), "--json", "--sandbox", "docker", env=env, timeout=600)
    assert json.loads(res.stdout)["unresolved_ids"] == ["o__cext-1"], res.stderr[-2000:]
    grade_log = json.loads((tmp_path / "other" / "logs" / "o__cext-1" / "report.json")
                           .read_text())
    assert grade_log["failed_f2p"] == ["tests/test_c.py::test_twice"] and \
        grade_log["failed_p2p"] == [], grade_log  # test_import: the built extension is there


PLUGIN_PYPROJECT = """[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "myplug"
version = "0.1"

[project.entry-points.pytest11]
myplug = "myplug.plugin"
"""
PLUGIN_CODE = "def compare(got, want):\n    assert got == want\n"
PLUGIN_TEST = """import pytest

from myplug.plugin import compare


def test_the_plugin_s_own_assert_is_explained():
    with pytest.raises(AssertionError) as raised:
        compare(1, 2)
    assert "assert 1 == 2" in str(raised.value)
"""


def test_an_editable_pytest_plugin_gets_its_asserts_rewritten(index, build_wheels, env_images,
                                                              tmp_path):
    """pytest rewrites a plugin's asserts by the modules its distribution records, which an
    editable install by PEP 660 does not: the environment records them, as the regular install
    that the project's CI makes does, and the plugin's assertion messages are pytest's."""
    for wheel in build_wheels.glob("setuptools-*.whl"):
        index.add(wheel, "2024-01-01T00:00:00Z")
    repo = tmp_path / "repos" / "o__plug"
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    # a flat layout: setuptools' editable install imports it through a finder of its own
    write_tree(repo, {"pyproject.toml": PLUGIN_PYPROJECT, "myplug/__init__.py": "",
                      "myplug/plugin.py": PLUGIN_CODE, "tests/test_plug.py": PLUGIN_TEST})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    env = {**index.env, "PATCHLORE_CACHE_DIR": str(tmp_path / "cache")}
    res = run_cli("sandbox", "exec", "--repo", str(repo), "--sandbox", "docker", "--json",
                  "--timeout", "120", "--", "python3 -m pytest -q tests/test_plug.py", env=env,
                  timeout=600)
    (log,) = (tmp_path / "cache" / "env").glob("*.log")
    out = json.loads(res.stdout)
    assert {k: v["status"] for k, v in out["tests"].items()} == {
        "tests/test_plug.py::test_the_plugin_s_own_assert_is_explained": "passed"}, \
        (out["tests"], log.read_text()[-3000:])


def test_a_pytest_replaced_for_its_python_brings_plugins_of_its_own_time(index, env_images,
                                                                          tmp_path):
    """The project pins a pytest that cannot run here (so the environment gets the newest of
    the date) and a plugin made for that old pytest, whose hook the new one rejects: the plugin
    is upgraded with pytest, and the tests run."""
    index.add(build_wheel(tmp_path / "old-pytest", tmp_path, "pytest", "1.0", ""),
              "2020-01-01T00:00:00Z")  # no __main__: `python -m pytest` cannot run it
    plugin = '\n[project.entry-points.pytest11]\noldplug = "pl_oldplug"\n'
    index.add(build_wheel(tmp_path / "plug1", tmp_path, "pl-oldplug", "1.0",
                          "def pytest_funcarg__thing(request):\n    return 1\n", plugin),
              "2020-01-01T00:00:00Z")
    index.add(build_wheel(tmp_path / "plug2", tmp_path, "pl-oldplug", "2.0",
                          "import pytest\n\n\n@pytest.fixture\ndef thing():\n    return 1\n",
                          plugin), "2020-06-01T00:00:00Z")
    data = {"path": tmp_path / "d.jsonl", "repos": tmp_path / "repos"}
    row = make_tinycalc(data["repos"], data["path"])
    repo = data["repos"] / "patchlore__tinycalc"
    (repo / "requirements-test.txt").write_text("pytest==1.0\npl-oldplug==1.0\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the test tools of the time")
    row.update(base_commit=git(repo, "rev-parse", "HEAD").strip(),
               created_at="2024-06-01T00:00:00Z")
    data["path"].write_text(json.dumps(row) + "\n")
    res = grade(data, tmp_path / "out", {**index.env, "PATCHLORE_CACHE_DIR": str(tmp_path)})
    (log,) = (tmp_path / "env").glob("*.log")
    assert json.loads(res.stdout)["resolved_ids"] == ["patchlore__tinycalc-1"], \
        log.read_text()[-3000:]
    assert "+ pl-oldplug==2.0" in log.read_text() and "+ pytest==8.4.2" in log.read_text()


def test_code_older_than_its_python_is_tested_with_the_pytest_of_its_own_day(index, env_images,
                                                                             tmp_path):
    """Code of 2019 gets Python 3.9 and, for wheels, the dependencies of 2021; but its tests
    run with the pytest of 2019 (a later one rejects an old project's configuration and
    needs newer versions of what the project may be), here pytest 7.4.4 uploaded in 2019."""
    old = tmp_path / "pytest-7"
    done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
                           "--python-version", "3.9", "--dest", str(old), "pytest==7.4.4",
                           "exceptiongroup", "tomli"],  # pip reads markers as of its Python
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-1000:]
    for wheel in old.glob("*.whl"):  # with its dependencies, of the same day
        index.add(wheel, "2019-06-01T00:00:00Z")
    repo = tmp_path / "repos" / "o__old"
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    write_tree(repo, {"requirements-test.txt": "pytest\n", "tests/test_v.py": (
        "import pytest\n\n\ndef test_the_pytest_of_the_code_s_day():\n"
        "    assert pytest.__version__ == '7.4.4'\n")})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    env = {**index.env, "PATCHLORE_CACHE_DIR": str(tmp_path / "cache"),
           "PATCHLORE_DEPS_DATE": "2019-12-01"}
    res = run_cli("sandbox", "exec", "--repo", str(repo), "--sandbox", "docker", "--json",
                  "--timeout", "120", "--", "python3 -m pytest -q tests/test_v.py", env=env,
                  timeout=600)
    (log,) = (tmp_path / "cache" / "env").glob("*.log")
    out = json.loads(res.stdout)
    assert {k: v["status"] for k, v in out["tests"].items()} == {
        "tests/test_v.py::test_the_pytest_of_the_code_s_day": "passed"}, \
        (out["tests"], log.read_text()[-3000:])
    assert 'exclude-newer = "2021-02-02"' in log.read_text()  # the rest: as of the wheels
