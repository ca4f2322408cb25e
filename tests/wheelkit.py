"""A tiny PEP 517/660 build backend with no dependencies, for the tests' own packages: pip
builds them offline, as wheels for a local index or in place (editable). It packs `src/`."""

import base64
import hashlib
import os
import tomllib
import zipfile


def _project() -> tuple[str, str, str, str]:
    """Name, version, the METADATA lines of its requirements (PEP 621's dependencies and
    optional-dependencies) and its entry_points.txt ('' : none)."""
    with open("pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    requires = [f"Requires-Dist: {r}\n" for r in project.get("dependencies", [])]
    for extra, reqs in project.get("optional-dependencies", {}).items():
        requires.append(f"Provides-Extra: {extra}\n")
        requires += [f"Requires-Dist: {r}; extra == '{extra}'\n" for r in reqs]
    entry_points = "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items())
                           for group, eps in project.get("entry-points", {}).items())
    return project["name"], project["version"], "".join(requires), entry_points


def _wheel(directory: str, files: dict[str, bytes]) -> str:
    name, version, requires, entry_points = _project()
    dist = f"{name.replace('-', '_')}-{version}"
    info = f"{dist}.dist-info"
    files = {**files,
             f"{info}/METADATA": (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                  + requires).encode(),
             f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: wheelkit\nRoot-Is-Purelib: true\n"
             b"Tag: py3-none-any\n"}
    if entry_points:
        files[f"{info}/entry_points.txt"] = entry_points.encode()
    record = [f"{path},sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest())
              .rstrip(b"=").decode() + f",{len(data)}" for path, data in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    wheel = f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, wheel), "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None) -> str:
    files = {}
    for root, _, names in os.walk("src"):
        for n in names:
            with open(os.path.join(root, n), "rb") as fh:
                files[os.path.relpath(os.path.join(root, n), "src")] = fh.read()
    return _wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None) -> str:
    name = _project()[0]
    pth = f"_{name.replace('-', '_')}_editable.pth"
    return _wheel(wheel_directory, {pth: (os.path.abspath("src") + "\n").encode()})
