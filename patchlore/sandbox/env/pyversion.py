"""Which of the sandbox images' Pythons a repo gets, and as of which date its dependencies
resolve: from the project's own metadata (requires-python, the Python versions its classifiers,
tox envlist and CI workflows name) and the date of the code.

The default image's Python when the project allows it, declares it (when it names versions at
all) and it had been out for a while (WHEELS_AFTER) at that date, so that the dependencies of that
date have wheels for it; else the newest such other one. A project older than every image gets
the oldest, and its dependencies the date that Python's wheels arrived.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from patchlore.sandbox.env.envsetup import Bounds
from patchlore.sandbox.env.images import DEFAULT_PYTHON, PYTHONS

RELEASED = {"3.9": dt.date(2020, 10, 5), "3.11": dt.date(2022, 10, 24),
            "3.13": dt.date(2024, 10, 7)}
# from a CPython release until numpy, scipy and pandas had published wheels for it
WHEELS_AFTER = dt.timedelta(days=120)
META_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "tox.ini")

Reader = Callable[[str], "str | None"]


@dataclass
class Choice:
    python: str
    date: dt.date | None  # dependencies resolve as of this day (None: today's)
    why: str
    required: bool = False  # the default image's Python is outside requires-python


def requires_python(read: Reader) -> str:
    """The project's requires-python / python_requires, or ''."""
    try:
        meta = tomllib.loads(read("pyproject.toml") or "")
    except tomllib.TOMLDecodeError:
        meta = {}
    found = meta.get("project", {}).get("requires-python", "")
    for name, pattern in (("setup.cfg", r"^\s*python_requires\s*=\s*(.+)$"),
                          ("setup.py", r"python_requires\s*=\s*['\"]([^'\"]+)['\"]")):
        if not found:
            m = re.search(pattern, read(name) or "", re.MULTILINE)
            found = m.group(1).strip() if m else ""
    return found


def declared(read: Reader, workflows: list[str]) -> set[str]:
    """The 3.X versions the project says it is tested on: classifiers, tox envlist, CI."""
    out: set[str] = set()
    for name in META_FILES:
        text = read(name) or ""
        out |= set(re.findall(r"Programming Language :: Python :: (3\.\d+)", text))
        if name == "tox.ini":
            out |= {f"3.{m}" for m in re.findall(r"\bpy3(\d+)\b", text)}
    for name in workflows:
        for values in re.findall(r"python-version\s*:\s*(\[[^\]]*\]|.+)", read(name) or ""):
            out |= set(re.findall(r"\b(3\.\d+)\b", values))
    return out


def choose(read: Reader, workflows: list[str], when: dt.date | None,
           pinned: str = "") -> Choice:
    """The Python image and the date bound for a repo whose code is of `when` (None: today)."""
    spec_text = requires_python(read)
    try:
        spec = SpecifierSet(spec_text)
    except InvalidSpecifier:
        spec = SpecifierSet()
    names = declared(read, workflows)
    why: list[str] = []
    if pinned:
        python = pinned
        why.append("set by the python setting")
    else:
        allowed = [v for v in PYTHONS if spec.contains(f"{v}.0", prereleases=True)] \
            or list(PYTHONS)
        if spec_text:
            why.append(f"requires-python {spec_text!r}")
        if names:
            top = max(names, key=lambda v: tuple(map(int, v.split("."))))
            tested = [v for v in allowed if _key(v) <= _key(top)]
            allowed = tested or allowed[:1]
            why.append(f"tested up to {top}")
        ripe = [v for v in allowed if when is None or RELEASED[v] + WHEELS_AFTER <= when]
        python = DEFAULT_PYTHON if DEFAULT_PYTHON in ripe else (ripe or allowed[:1])[-1]
        if when is not None:
            why.append(f"code of {when.isoformat()}")
    date = None if when is None else max(when, RELEASED[python] + WHEELS_AFTER)
    if date is not None and date != when:
        why.append(f"dependencies as of {date.isoformat()}, when Python {python}'s wheels were out")
    return Choice(python, date, "; ".join(why),
                  required=not spec.contains(f"{DEFAULT_PYTHON}.0", prereleases=True))


def workflows(files: list[str]) -> list[str]:
    """The repo's CI workflow files, which name the Pythons it is tested on."""
    return [f for f in files if re.match(r"\.github/workflows/[^/]+\.ya?ml$", f)]


def base_image(client, settings, snap, repo: str,
               warn: Callable[[str], None] = lambda m: None) -> tuple[str, Bounds, Choice]:
    """The sandbox image a repo's environment derives from, the bounds of its time, and why.
    The `image` setting's own image when it is not the default one nor one that `patchlore
    sandbox build` made with the default Python (those stand for their family: `:py3.X`
    beside them); else the image of the Python `choose` picks, or the `image` when that one is
    not built and the repo does not require it."""
    from patchlore.config import Settings
    from patchlore.errors import PatchloreError
    from patchlore.sandbox.env.envsetup import repo_bounds, snapshot_reader
    from patchlore.sandbox.env.images import stale, tag_for

    bounds = repo_bounds(repo, settings.deps_date)
    pinned = "" if settings.python == "auto" else settings.python
    if pinned and pinned not in PYTHONS:
        raise PatchloreError(f"python = {pinned!r}: no sandbox image for it",
                             hint=f"auto or one of {', '.join(PYTHONS)}")
    choice = choose(snapshot_reader(snap), workflows(snap.files), bounds.date, pinned)
    bounds = dataclasses.replace(bounds, date=choice.date,
                                 code=bounds.date if choice.date != bounds.date else None)
    if settings.image != Settings.image and not pinned and not family(client, settings.image):
        return settings.image, bounds, choice
    tag = tag_for(choice.python, settings.image)
    why = stale(client, tag) if tag != settings.image else ""
    if why and not (choice.required or pinned):
        warn(f"Python {choice.python} suits this repo ({choice.why}) but {why}; using "
             f"{settings.image} (patchlore sandbox build --python {choice.python})")
        return settings.image, bounds, choice
    if why:
        raise PatchloreError(f"Python {choice.python} is needed ({choice.why}) but {why}",
                             hint=f"patchlore sandbox build --python {choice.python}")
    return tag, bounds, choice


def family(client, image: str) -> bool:
    """Whether `image` is a sandbox image of the default Python, built by patchlore."""
    from docker.errors import ImageNotFound

    try:
        labels = client.images.get(image).attrs["Config"].get("Labels") or {}
    except ImageNotFound:
        return False
    return bool(labels.get("patchlore.image")) and labels.get("patchlore.python") == DEFAULT_PYTHON


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))
