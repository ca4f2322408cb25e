"""scripts/install-lock installs exactly the locked set, whatever was published after the lock.

The trap it closes: a locked package asks for another with an extra (chromadb wants
`uvicorn[standard]`); a newer release of that other package appears after the lock; pip before 23.3
(a fresh Python 3.11.7's own pip is 23.2.1) then picks the newer release for the extra and refuses
it in --require-hashes mode. The index here is served on 127.0.0.1 by the test itself."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from pkgindex import PackageIndex, build_wheel

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ROOT / "scripts" / "install-lock"
CODE = "VALUE = {!r}\n"


def locked(wheel: Path) -> str:
    name, version = wheel.name.split("-")[:2]
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return f"{name.replace('_', '-')}=={version} \\\n    --hash=sha256:{digest}\n"


def uv_entry() -> str:
    """The project's own locked uv, which install-lock bootstraps."""
    text = (ROOT / "requirements.lock").read_text()
    return re.search(r"^uv==\S+ \\\n(?:    --hash=.*\\\n)*    --hash=.*\n", text, re.M).group(0)


def fresh_venv(path: Path) -> Path:
    """A venv of the base Python with the pip it ships (ensurepip), as a new machine has."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(path)], check=True)
    return path / "bin" / "python"


def give_uv(venv: Path) -> None:
    """The locked uv, copied from this checkout's venv: the index here has no uv wheel to
    bootstrap from (install-lock's pip step for it is one hash-checked, dependency-free
    wheel, which every setup on a new machine, CI's included, runs for real)."""
    dist = importlib.metadata.distribution("uv")
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv)}))
    for part in ("uv", Path(dist._path).name):  # the module and its dist-info
        shutil.copytree(Path(dist._path).parent / part, site / part)
    import uv

    shutil.copy(uv.find_uv_bin(), venv / "bin" / "uv")


def installed(python: Path) -> dict[str, str]:
    out = subprocess.run([str(python), "-c", "import importlib.metadata as m; print('\\n'.join("
                          "f'{d.metadata[\"Name\"]}=={d.version}' for d in m.distributions()))"],
                         capture_output=True, text=True, check=True).stdout
    return dict(line.split("==") for line in out.split())


def clean_env(index: PackageIndex, tmp: Path) -> dict[str, str]:
    """This index and nothing else: no pip config of the machine (its find-links, mirrors)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV"))}
    return {**env, **index.env, "PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1",
            "UV_CACHE_DIR": str(tmp / "uv-cache"), "PIP_NO_CACHE_DIR": "1"}


@pytest.fixture
def published(tmp_path):
    """pl-app 1.0 asks for pl-web[standard]; the lock holds pl-web 1.0; pl-web 1.1 comes out
    after the lock was written."""
    index = PackageIndex(tmp_path / "index", bridge=False)
    files = index.root / "files"
    web = '[project.optional-dependencies]\nstandard = ["pl-speed>=1.0"]\n'
    wheels = [build_wheel(tmp_path / "src" / "speed", files, "pl-speed", "1.0", CODE.format(1)),
              build_wheel(tmp_path / "src" / "web", files, "pl-web", "1.0", CODE.format(1),
                          web),
              build_wheel(tmp_path / "src" / "app", files, "pl-app", "1.0", CODE.format(1),
                          'dependencies = ["pl-web[standard]>=1.0"]\n')]
    for wheel in wheels:
        index.add(wheel, "2021-01-01T00:00:00Z")
    lock = tmp_path / "requirements.lock"
    lock.write_text("".join(map(locked, wheels)) + uv_entry())
    index.add(build_wheel(tmp_path / "src" / "web11", files, "pl-web", "1.1", CODE.format(2),
                          web), "2022-01-01T00:00:00Z")
    yield index, lock
    index.close()


def test_a_release_after_the_lock_changes_nothing(published, tmp_path):
    index, lock = published
    # no .pyc written by an import here: those found below were written by the install
    env = {**clean_env(index, tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    python = fresh_venv(tmp_path / "venv")
    give_uv(tmp_path / "venv")
    # a venv that drifted: the newer release is already there, and a package the lock never named
    subprocess.run([str(python), "-m", "pip", "install", "-q", "pl-web==1.1", "pl-tinydep"],
                   env=env, check=True)
    run = subprocess.run([str(INSTALL), str(tmp_path / "venv"), str(lock)], env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    have = installed(python)
    assert (have["pl-app"], have["pl-web"], have["pl-speed"]) == ("1.0", "1.0", "1.0")
    assert "pl-tinydep" not in have  # exactly the locked set
    assert subprocess.run([str(python), "-c", "import pl_web; assert pl_web.VALUE == 1"],
                          env=env).returncode == 0
    # compiled at install, as pip does: imports need not compile where .pyc cannot be written
    probe = ("import importlib.util as u, os, pl_web; "
             "print(os.path.exists(u.cache_from_source(pl_web.__file__)))")
    assert subprocess.run([str(python), "-c", probe], env=env, capture_output=True,
                          text=True).stdout.strip() == "True"


def test_stock_pip_alone_falls_into_the_trap(published, tmp_path):
    """The scenario above is the real one: the pip a new Python ships refuses this lock."""
    index, lock = published
    python = fresh_venv(tmp_path / "venv")
    pip = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True,
                         text=True, check=True).stdout.split()[1]
    if tuple(map(int, pip.split(".")[:2])) >= (23, 3):
        pytest.skip(f"this Python ships pip {pip}, which resolves extras against the lock")
    packages = tmp_path / "packages.lock"  # the lock less uv, which this index does not serve
    packages.write_text(lock.read_text().replace(uv_entry(), ""))
    run = subprocess.run([str(python), "-m", "pip", "install", "--require-hashes", "-r",
                          str(packages)], env=clean_env(index, tmp_path), capture_output=True,
                         text=True)
    assert run.returncode != 0
    assert "pl-web[standard]" in run.stderr and "pinned with ==" in run.stderr
