"""Installing an instance's requirements into an image derived from the sandbox image, for real:
pip in a container downloads from a package index that the test serves on the Docker bridge
(tests/pkgindex.py: PyPI itself stands behind a remote network), and installs the repo in place
with its own build backend (tests/wheelkit.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import remove_images, run_cli
from pkgindex import PackageIndex, git, make_tinycalc
from stub_llm import StubLLM
from patchlore.evals.dataset import Instance
from patchlore.evals.environment import row_recipe
from patchlore.sandbox.env.envsetup import recipe

@pytest.fixture(scope="module")
def index(tmp_path_factory, docker_ready):
    served = PackageIndex(tmp_path_factory.mktemp("index"))
    try:
        yield served.env
    finally:
        served.close()


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "tinycalc.jsonl"
    row = make_tinycalc(tmp_path / "repos", path)
    return {"path": path, "repos": tmp_path / "repos", "row": row}


@pytest.fixture
def env_images(docker_ready, tmp_path):
    """The environment images the test derived (their build locks are in its cache dirs, all
    under tmp_path: others may build on the shared engine meanwhile); removed at its end."""
    from patchlore.sandbox.docker_backend import docker_client

    client = docker_client()

    def all_tags() -> set[str]:
        return {t for img in client.images.list(name="patchlore-env") for t in img.tags}

    def own() -> set[str]:
        keys = {p.stem for p in tmp_path.rglob("*.lock")}
        return {t for t in all_tags() - before if t.rsplit("-", 1)[1] in keys}

    before = all_tags()
    yield own
    remove_images(sorted(own()))


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
    assert "+ pl-tinydep==1.0" in log.read_text()
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
    # doctor on the repo says the same: the step that failed, and the log
    doc = run_cli("doctor", "--json", "--repo", str(repo),
                  env={**index, "PATCHLORE_CACHE_DIR": str(tmp_path)}, timeout=120)
    (row,) = [c for c in json.loads(doc.stdout)["checks"] if c["name"] == "requirements"]
    assert row["status"] == "fail" and "pl-nowhere" in row["detail"], row
    assert "at `uv pip install -r requirements.txt`" in row["detail"], row
    assert str(tmp_path / "env") in row["fix"], row
    left = docker_client().containers.list(all=True, filters={"label": "patchlore.setup"})
    # only this test's own: other setups may be building on the shared engine
    keys = {p.stem for p in tmp_path.rglob("*.lock")}
    assert [c for c in left if c.labels["patchlore.setup"].rsplit("-", 1)[1] in keys] == []


def test_a_row_s_own_recipe_wins_over_guessing():
    inst = Instance("i", "o/r", "c", "", "", "", [], [],
                    extra={"pre_install": ["apt-get -h"], "pip_packages": ["a==1", "b>2"],
                           "install": "python -m pip install -e . --no-deps"})
    files = {"requirements.txt": "x\n", "setup.py": ""}
    assert recipe(files.get, row_recipe(inst)) == [
        "apt-get -h", "python -m pip install a==1 'b>2'",
        "python -m pip install -e . --no-deps"]
    assert recipe(files.get) == ["python -m pip install -r requirements.txt",
                                 "python -m pip install -e ."]
    extras = '[project]\nname = "x"\n[project.optional-dependencies]\ntest = ["pytest"]\n'
    assert recipe({"requirements-dev.txt": "", "pyproject.toml": extras}.get, uv=True) == [
        "uv pip install -r requirements-dev.txt || install_lines requirements-dev.txt",
        "uv pip install -e '.[test]' || { uv pip install -e . && install_extras test; }"]
    # the fallback finds the project by where it was installed from, not by a name that a
    # setup.py may only compute (`name=NAME`)
    named = "NAME = 'attrs'\nEXTRAS = {'tests': ['x']}\nsetup(name=NAME, extras_require=EXTRAS)\n"
    assert recipe({"setup.py": named}.get, uv=True) == [
        "uv pip install -e '.[tests]' || { uv pip install -e . && install_extras tests; }"]
    # setuptools pinned below PEP 660 editable installs: built without isolation if need be
    old = '[build-system]\nrequires = ["setuptools~=62.6", "wheel", "scm>=6"]\n'
    assert recipe({"pyproject.toml": old}.get, uv=True) == [
        "uv pip install -e . || { uv pip install 'setuptools>=64' wheel 'scm>=6' && "
        "uv pip install --no-build-isolation -e .; }"]
    assert recipe({"pyproject.toml": old.replace("~=62.6", ">=61")}.get, uv=True) == [
        "uv pip install -e ."]
    assert recipe({"pyproject.toml": "[tool.ruff]\n", "m.py": ""}.get) == []
    # test extras that setup.py and setup.cfg declare
    fallback = " || {{ python -m pip install -e . && install_extras {}; }}".format
    assert recipe({"setup.py": "EXTRAS = {'tests': ['simplejson'], 'lint': []}"}.get) == [
        "python -m pip install -e '.[tests]'" + fallback("tests")]
    cfg = "[options.extras_require]\ntesting =\n  pytest\ndocs = x\n[flake8]\ntest = 1\n"
    assert recipe({"setup.py": "", "setup.cfg": cfg}.get) == [
        "python -m pip install -e '.[testing]'" + fallback("testing")]
    # what tox installs for the tests: its extras, -r files and deps (not a factor's own)
    tox = ("[testenv]\nextras = tests,reco\ndeps =\n  -r{toxinidir}/requirements_full.txt\n"
           "  pytest-mock\n  py27: mock\ncommands = pytest\n")
    assert recipe({"tox.ini": tox, "setup.py": "E = {'reco': [], 'tests': []}",
                   "requirements_full.txt": "x\n"}.get) == [
        "python -m pip install -r requirements_full.txt || install_lines requirements_full.txt",
        "printf '%s\\n' pytest-mock > /tmp/patchlore-tox-deps.txt && { python -m pip install "
        "-r /tmp/patchlore-tox-deps.txt || install_lines /tmp/patchlore-tox-deps.txt; }",
        "python -m pip install -e '.[tests,reco]'" + fallback("tests reco")]
    # extras assigned by key in setup.py; tox's `{env:VAR:default}` read as its default
    assigned = "EXTRAS = {}\nEXTRAS['docs'] = []\nEXTRAS[\"tests\"] = EXTRAS['docs'] + ['x']\n"
    assert recipe({"setup.py": assigned}.get) == [
        "python -m pip install -e '.[tests]'" + fallback("tests")]
    tox_env = "[testenv]\nextras = {env:EXTRAS:testing}\n"
    assert recipe({"tox.ini": tox_env, "setup.py": "E = {'testing': []}"}.get) == [
        "python -m pip install -e '.[testing]'" + fallback("testing")]
    # PEP 735 dependency groups for the tests, which uv installs
    groups = '[project]\nname = "x"\n[dependency-groups]\ntests = ["pytest"]\ndocs = []\n'
    assert recipe({"pyproject.toml": groups}.get, uv=True) == [
        "uv pip install -e .", "uv pip install --group tests"]


def test_fix_and_sandbox_exec_on_a_repo_with_requirements(index, env_images, tmp_path):
    """The same derived image serves `fix` and `sandbox exec` on a working tree."""
    row = make_tinycalc(tmp_path / "repos", tmp_path / "d.jsonl")
    repo = tmp_path / "repos" / "patchlore__tinycalc"
    subprocess.run(["git", "-C", str(repo), "apply"], input=row["test_patch"], text=True,
                   check=True)  # the failing test, uncommitted: the suite is red
    env = {**index, "PATCHLORE_CACHE_DIR": str(tmp_path / "cache")}
    bare = run_cli("sandbox", "exec", "--repo", str(repo), "--sandbox", "docker", "--no-setup",
                   "--", "python3 -m pytest -q", env=env)
    assert bare.returncode == 2  # pytest's own: the tests could not even be collected
    assert "No module named 'tinycalc'" in bare.stdout
    before = requirements_check(repo, env)
    assert "built by the first sandbox" in before["detail"]
    assert "uv pip install -r requirements.txt; uv pip install -e ." in \
        before["detail"]
    fix = ("src/tinycalc/__init__.py\n<<<<<<< SEARCH\n    return double(x) + x\n=======\n"
           "    return double(double(x))\n>>>>>>> REPLACE\n")
    with StubLLM([[fix]]) as stub:
        res = run_cli("fix", "--repo", str(repo), "--model", "hosted_vllm/stub-coder",
                      "--api-base", stub.api_base, "--samples", "1", "--rounds", "1",
                      "--memory-mode", "off", "--sandbox", "docker", "--json", env=env,
                      timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout)["status"] == "verified"
    assert "installing the repo's requirements into patchlore-env:" in res.stderr
    (tag,) = env_images()
    again = run_cli("sandbox", "exec", "--repo", str(repo), "--sandbox", "docker", "--",
                    "python3 -m pytest -q", env=env)
    assert again.returncode == 1 and "1 failed, 1 passed" in again.stdout  # deps are there
    assert "installing" not in again.stderr and env_images() == {tag}
    assert requirements_check(repo, env)["detail"].startswith(f"{tag} (built)")


def requirements_check(repo: Path, env: dict) -> dict:
    res = run_cli("doctor", "--json", "--repo", str(repo), env=env)
    return next(c for c in json.loads(res.stdout)["checks"] if c["name"] == "requirements")


def test_when_the_install_fails_fix_and_exec_fall_back_to_the_plain_image(env_images, tmp_path):
    """A package whose build backend cannot be fetched (offline): its tests need nothing, so the
    plain image still runs them; the user is told, once per sandbox start, and how to stop it."""
    repo = tmp_path / "pkg"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools>=999"]\n'
                                         'build-backend = "setuptools.build_meta"\n')
    (repo / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a package")
    env = {"PIP_INDEX_URL": "http://127.0.0.1:9/simple/", "PIP_RETRIES": "0",
           "PATCHLORE_CACHE_DIR": str(tmp_path / "cache")}
    res = run_cli("sandbox", "exec", "--repo", str(repo), "--sandbox", "docker", "--",
                  "python3 -m pytest -q", env=env)
    assert res.returncode == 0, res.stderr
    assert "1 passed" in res.stdout
    warning = next(ln for ln in res.stderr.splitlines() if ln.startswith("warning:"))
    assert "environment setup for patchlore-env:pkg-" in warning and "--no-setup" in warning
    assert env_images() == set()


def test_the_build_gets_the_host_s_pip_settings_but_not_its_paths(monkeypatch, tmp_path):
    from patchlore.sandbox.env.envsetup import CA_ENV, CA_PATH, PIP_ENV, setup_env

    for k in (*PIP_ENV, *CA_ENV):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", "file:///opt/pypi/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels https://wheels.example/w")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    assert setup_env() == ({"PIP_FIND_LINKS": "https://wheels.example/w",
                            "HTTPS_PROXY": "http://proxy:3128"}, "")
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    env, bundle = setup_env()
    assert env["PIP_CERT"] == CA_PATH and bundle == str(ca)


def test_the_derived_image_keeps_the_base_image_s_path(index, env_images, tmp_path,
                                                       monkeypatch):
    from conftest import IMAGE
    from patchlore.evals.repos import checkout
    from patchlore.evals.dataset import load_dataset
    from patchlore.sandbox.docker_backend import docker_client
    from patchlore.sandbox.env.envsetup import image_with_requirements
    from patchlore.sandbox.snapshot import take_snapshot

    for k, v in {**index, "PATCHLORE_CACHE_DIR": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(k, v)
    client = docker_client()
    box = client.containers.create(IMAGE, ["true"])
    try:  # a base image of someone else's, with its own PATH
        box.commit("patchlore-test-custom-path", "1",
                   changes=["ENV PATH=/opt/custom/bin:/usr/bin:/bin"])
    finally:
        box.remove(force=True)
    try:
        make_tinycalc(tmp_path / "repos", tmp_path / "d.jsonl")
        (inst,), _ = load_dataset(tmp_path / "d.jsonl")
        snap = take_snapshot(checkout(inst, tmp_path / "repos", tmp_path / "work"))
        tag = image_with_requirements(client, "patchlore-test-custom-path:1", snap)
        assert tag in env_images()
        assert "PATH=/opt/patchlore/venv/bin:/opt/custom/bin:/usr/bin:/bin" in \
            client.images.get(tag).attrs["Config"]["Env"]
    finally:
        remove_images(sorted(env_images()) + ["patchlore-test-custom-path:1"])


def test_the_uv_binary_is_found_alike_by_parallel_grades(monkeypatch):
    """sysconfig's first read is not thread-safe on 3.11: workers that look for uv at once
    (a parallel grade's first instances) must all find it, none end in TypeError."""
    import sysconfig
    import threading

    from patchlore.sandbox.env import envsetup

    found, errors = [], []
    for _ in range(20):  # the race needs the first read: start each round from none
        monkeypatch.setattr(sysconfig, "_CONFIG_VARS", None)
        monkeypatch.setattr(sysconfig, "_CONFIG_VARS_INITIALIZED", False, raising=False)
        envsetup._uv_binary.cache_clear()
        start = threading.Barrier(8)

        def look() -> None:
            start.wait()
            try:
                found.append(envsetup.uv_binary())
            except Exception as exc:  # what the race raised before
                errors.append(exc)

        threads = [threading.Thread(target=look) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == [] and len(set(found)) == 1 and found[0], (errors[:3], set(found))


def test_an_extra_that_does_not_install_as_a_whole_goes_in_line_by_line(index, env_images,
                                                                       tmp_path):
    """One requirement of the test extra that cannot be installed (gone from the index, an old
    sdist that no longer builds) costs that requirement, not the environment."""
    row = make_tinycalc(tmp_path / "repos", tmp_path / "d.jsonl")
    repo = tmp_path / "repos" / "patchlore__tinycalc"
    (repo / "requirements.txt").unlink()  # pl-tinydep comes from the extra alone
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[project.optional-dependencies]\n"
                         'test = ["pl-tinydep==1.0", "pl-nowhere>=1"]\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a test extra")
    row["base_commit"] = git(repo, "rev-parse", "HEAD").strip()
    (tmp_path / "d.jsonl").write_text(json.dumps(row) + "\n")
    data = {"path": tmp_path / "d.jsonl", "repos": tmp_path / "repos"}
    res = grade(data, tmp_path / "out", {**index, "PATCHLORE_CACHE_DIR": str(tmp_path / "c")})
    (log,) = (tmp_path / "c" / "env").glob("*.log")
    assert json.loads(res.stdout)["resolved_ids"] == ["patchlore__tinycalc-1"], \
        log.read_text()[-3000:]
    assert "patchlore: skipped pl-nowhere>=1 from /tmp/patchlore-extras.txt" in log.read_text()
