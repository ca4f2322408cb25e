"""Django's own runner, tests/runtests.py, as SWE-bench runs it."""

from __future__ import annotations

from patchlore.sandbox.runners.base import (REPRO, Runner, argv_of, unittest_messages,
                                            unittest_statuses)


class DjangoRunner(Runner):
    name = "django"
    marker = "tests/runtests.py"
    command = "python3 tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1"

    @classmethod
    def calls(cls, test_cmd: str) -> bool:
        return any(a.endswith("runtests.py") for a in argv_of(test_cmd)[:2])

    def directives(self, test_files: list[str]) -> list[str]:
        # SWE-bench's rule: tests/foo/tests.py -> foo.tests (labels, not paths)
        return [f[len("tests/"):-3].replace("/", ".") for f in test_files
                if f.startswith("tests/") and f.endswith(".py")]

    def parse(self, stdout: str, stderr: str) -> dict[str, str]:
        # The result lines are on stderr; what the tests print goes to stdout. Read together
        # (2>&1, as SWE-bench does) a print lands inside "name ... ok" and the test is lost or
        # misnamed (SWE-bench issue #167), so the parser gets stderr alone.
        return unittest_statuses(stderr)

    def messages(self, stdout: str, stderr: str) -> dict[str, str]:
        return unittest_messages(stderr)

    # runtests.py runs every package under tests/ (one with an __init__.py) as an app, its
    # tests named `test_x (patchlore_repro.tests.T)`
    repro_style = "unittest.TestCase tests (django.test.SimpleTestCase where Django is needed)"

    def repro_path(self, files: list[str]) -> str:
        return f"tests/{REPRO}/tests.py"

    def repro_support(self) -> list[str]:
        return [f"tests/{REPRO}/__init__.py"]

    def is_repro(self, test: str, path: str) -> bool:
        return f"({REPRO}.tests." in test
