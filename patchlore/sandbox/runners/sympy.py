"""sympy's own runner, bin/test, as SWE-bench runs it."""

from __future__ import annotations

import re

from patchlore.sandbox.runners.base import REPRO, SKIPPED, XFAIL, Runner, argv_of, statuses

# a failure's report: "____ sympy/x/tests/test_y.py:test_z ____", the traceback, the next rule
# bin/test ends each file's last test line with the file's verdict: "test_z ok    [OK]"
_FILE_VERDICT = re.compile(r"\s+\[(?:OK|FAIL)\]$", re.MULTILINE)
_XFAIL = re.compile(r"^(test_\w+) f$", re.MULTILINE)
# a skip: "test_y Numpy is not installed. s", "test_y Slow w" (@slow, without --slow)
_SKIP = re.compile(r"^(test_\w+) .*\s[sw]$", re.MULTILINE)
_BLOCK = re.compile(r"^_{3,} (\S+\.py):(\S+) _{3,}\n(.*?)(?=^_{3,} |^={3,}|\Z)",
                    re.MULTILINE | re.DOTALL)
# since sympy 1.13 (2024) bin/test runs pytest and prints its verbose lines,
# "sympy/x/tests/test_y.py::test_z PASSED    [ 12%]", and its reports, "____ test_z ____"
_PYTEST_SESSION = re.compile(r"^=+ test session starts =+$", re.MULTILINE)
# parse_log_pytest_v2 reads "node STATUS" only at a line's end: the progress column and a
# skip's reason ("SKIPPED (numpy not installed)") go first
_PYTEST_TAIL = re.compile(r"^(\S+::\S+ (?:PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS))\b.*$",
                          re.MULTILINE)
_PYTEST_BLOCK = re.compile(r"^_{3,} (test\w*(?:\[.*?\])?) _{3,}\n(.*?)(?=^_{3,} |^={3,}|\Z)",
                           re.MULTILINE | re.DOTALL)


class SympyRunner(Runner):
    name = "sympy"
    marker = "bin/test"
    command = ("PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' "
               "python3 bin/test -C --verbose")
    stream = "stdout"

    @classmethod
    def calls(cls, test_cmd: str) -> bool:
        argv = argv_of(test_cmd)
        if argv and argv[0].rsplit("/", 1)[-1].startswith("python"):
            argv = argv[1:]
        return bool(argv) and argv[0] in ("bin/test", "./bin/test")

    def parse(self, stdout: str, stderr: str) -> dict[str, str]:
        if _PYTEST_SESSION.search(stdout):
            return _pytest_statuses(stdout)
        from swebench.harness.log_parsers.python import parse_log_sympy

        # parse_log_sympy wants "test_z ok" at the end of the line: without the file's verdict,
        # the last test of every file would be missing
        parsed = statuses(parse_log_sympy(_FILE_VERDICT.sub("", stdout), None))
        # parse_log_sympy also keys each failure's report as "file.py:test"; rows name the test
        # alone: the report counts for a test whose own line is missing (output cut short)
        out = {t: s for t, s in parsed.items() if ".py:" not in t}
        # an expected failure prints "test_y f", which parse_log_sympy does not read: the test
        # would be missing, and a row's PASS_TO_PASS test with @XFAIL never passed
        for test in _XFAIL.findall(_FILE_VERDICT.sub("", stdout)):
            out.setdefault(test, XFAIL)
        for test in _SKIP.findall(_FILE_VERDICT.sub("", stdout)):
            out.setdefault(test, SKIPPED)
        for key, status in parsed.items():
            if ".py:" in key:
                out.setdefault(key.rsplit(":", 1)[1], status)
        return out

    # bin/test finds test files only in the package's tests/ folders, and names a test by its
    # function alone: the reproduction's functions carry the name
    repro_style = f"plain test functions (no fixtures) whose names start with `test_{REPRO}_`"

    def repro_path(self, files: list[str]) -> str:
        dirs = sorted({f.rsplit("/", 1)[0] for f in files
                       if re.search(r"(^|/)tests/test_\w+\.py$", f)},
                      key=lambda d: (d.count("/"), d))
        return f"{dirs[0]}/test_{REPRO}.py" if dirs else f"test_{REPRO}.py"

    def is_repro(self, test: str, path: str) -> bool:
        return test.startswith(f"test_{REPRO}")

    def messages(self, stdout: str, stderr: str) -> dict[str, str]:
        if _PYTEST_SESSION.search(stdout):
            return {m.group(1): m.group(2).strip() for m in _PYTEST_BLOCK.finditer(stdout)}
        return {m.group(2): m.group(3).strip() for m in _BLOCK.finditer(stdout)}


def _pytest_statuses(log: str) -> dict[str, str]:
    """Per-test statuses of bin/test's pytest form, by swebench's parse_log_pytest_v2 (which
    also reads the summary's "FAILED node - message"), keyed as sympy's rows name a test: the
    function's name, without its file."""
    from swebench.harness.log_parsers.python import parse_log_pytest_v2

    parsed = statuses(parse_log_pytest_v2(_PYTEST_TAIL.sub(r"\1", log), None))
    return {node.split("::")[-1]: s for node, s in parsed.items() if "::" in node}
