"""Test runners: how a kind of project runs its tests and says, test by test, how they went.

One small class per runner (pytest, Django's tests/runtests.py, sympy's bin/test, plain
`python -m unittest`). Each knows its command, turns the test files a patch touches into the
directives it takes, and reads per-test outcomes under the names SWE-bench rows use. A runner is
picked from the test command (`for_command`), or from the repo's files and the row's test names
(`detect`), or named by the `runner` setting.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from patchlore.config import Settings
from patchlore.sandbox.runners.base import Runner
from patchlore.sandbox.runners.django import DjangoRunner
from patchlore.sandbox.runners.pytest import PytestRunner
from patchlore.sandbox.runners.sympy import SympyRunner
from patchlore.sandbox.runners.unittest import UnittestRunner

RUNNERS: dict[str, type[Runner]] = {r.name: r for r in (PytestRunner, DjangoRunner, SympyRunner,
                                                        UnittestRunner)}
CHOICES = ("auto", *RUNNERS)


def for_command(test_cmd: str) -> Runner | None:
    """The runner a test command calls (`pytest -q`, `./tests/runtests.py ...`), or None."""
    for cls in RUNNERS.values():
        if cls.calls(test_cmd):
            return cls()
    return None


def own_runner(exists: Callable[[str], bool]) -> Runner | None:
    """The runner a repo brings with it (Django's tests/runtests.py, sympy's bin/test), or None."""
    for cls in (DjangoRunner, SympyRunner):
        if exists(cls.marker):
            return cls()
    return None


def repo_test_cmd(settings: Settings, root: Path) -> str:
    """The command a repair runs the tests of the repo at `root` with: the test_cmd setting
    when it was chosen (a flag, an env var, a config file), else the runner the `runner`
    setting names or the repo brings with it; else the default (pytest)."""
    if settings.sources.get("test_cmd", "default") != "default":
        return settings.test_cmd
    exists = (lambda p: (root / p).is_file())
    runner = RUNNERS[settings.runner]() if settings.runner != "auto" else own_runner(exists)
    return settings.test_cmd if runner is None or runner.name == "pytest" else runner.command


def detect(exists: Callable[[str], bool], tests: list[str] = (),
           choice: str = "auto") -> tuple[Runner, str]:
    """The runner for a repo (`exists(path)` says whether the repo has that file) and why."""
    if choice != "auto":
        if choice not in RUNNERS:
            from patchlore.errors import PatchloreError
            raise PatchloreError(f"unknown runner {choice!r}", hint=" | ".join(CHOICES))
        return RUNNERS[choice](), f"the runner setting says {choice}"
    if any("::" in t for t in tests):
        return PytestRunner(), "the row's tests are pytest node ids"
    own = own_runner(exists)
    if own is not None:
        return own, f"the repo has {own.marker}"
    if tests:
        return UnittestRunner(), "the row's tests are not pytest node ids and the repo has " \
            "no runner of its own"
    if any(exists(f) for f in PytestRunner.markers):
        return PytestRunner(), "the repo configures pytest"
    return UnittestRunner(), "no pytest configuration, tests/runtests.py or bin/test"


__all__ = ["CHOICES", "RUNNERS", "Runner", "detect", "for_command", "own_runner",
           "repo_test_cmd"]
