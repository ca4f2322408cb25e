"""Plain `python -m unittest -v`, for a project with no runner of its own."""

from __future__ import annotations

from patchlore.sandbox.runners.base import (REPRO, Runner, argv_of, unittest_messages,
                                            unittest_statuses)


class UnittestRunner(Runner):
    name = "unittest"
    command = "python3 -m unittest -v"

    @classmethod
    def calls(cls, test_cmd: str) -> bool:
        argv = argv_of(test_cmd)
        return (len(argv) >= 3 and argv[0].rsplit("/", 1)[-1].startswith("python")
                and argv[1:3] == ["-m", "unittest"])

    def directives(self, test_files: list[str]) -> list[str]:
        # unittest takes dotted module names: tests/test_x.py -> tests.test_x
        return [f[:-3].replace("/", ".") for f in test_files if f.endswith(".py")]

    def parse(self, stdout: str, stderr: str) -> dict[str, str]:
        # Django's runner is unittest's: its verbose lines ("name ... ok") are the same, and
        # so are the names (as in the rows of SWE-bench's unittest repos); stderr alone, as there
        return unittest_statuses(stderr)

    def messages(self, stdout: str, stderr: str) -> dict[str, str]:
        return unittest_messages(stderr)

    # at the root, where discovery (`test*.py`) finds it; named `test_x (test_patchlore_repro.T)`
    repro_style = "unittest.TestCase tests"

    def is_repro(self, test: str, path: str) -> bool:
        return f"(test_{REPRO}." in test
