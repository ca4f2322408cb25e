"""pytest: per-test outcomes from its JUnit XML (sandbox/testrun.py), keyed by node id."""

from __future__ import annotations

from patchlore.sandbox.runners.base import Runner, argv_of


def pytest_argv_index(argv: list[str]) -> int | None:
    """Index just after `pytest` (or `python -m pytest`) in argv, skipping VAR=value prefixes."""
    i = 0
    while i < len(argv) and "=" in argv[i] and not argv[i].startswith("-"):
        i += 1
    if i < len(argv) and argv[i].rsplit("/", 1)[-1] in ("pytest", "py.test", "pytest-3"):
        return i + 1
    if (i < len(argv) and argv[i].rsplit("/", 1)[-1].startswith("python")
            and argv[i + 1:i + 3] == ["-m", "pytest"]):
        return i + 3
    return None


class PytestRunner(Runner):
    name = "pytest"
    command = "pytest -rA"
    markers = ("pytest.ini", "conftest.py", "tests/conftest.py")

    @classmethod
    def calls(cls, test_cmd: str) -> bool:
        return pytest_argv_index(argv_of(test_cmd)) is not None

    def parse(self, stdout: str, stderr: str) -> dict[str, str]:
        raise NotImplementedError("pytest's outcomes come from its JUnit XML (run_tests)")
