"""What every test runner provides."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

# statuses, the words swebench's parsers use
PASSED, FAILED, ERROR, SKIPPED, XFAIL = "passed", "failed", "error", "skipped", "xfailed"
_SWEBENCH = {"PASSED": PASSED, "FAILED": FAILED, "ERROR": ERROR, "SKIPPED": SKIPPED,
             "XFAIL": XFAIL}


TRACE_LIMIT = 4000  # characters of a failure's traceback kept (its end: the raise)
REPRO = "patchlore_repro"  # the name of the reproduction test an issue gets, in every runner


@dataclass
class TestOutcome:
    """One test's outcome in a run, whichever runner reported it."""

    status: str
    message: str = ""  # the short traceback of a failure or error
    duration: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status in (PASSED, XFAIL)


def cut_message(message: str) -> str:
    return "[...]\n" + message[-TRACE_LIMIT:] if len(message) > TRACE_LIMIT else message


def words_of(test_cmd: str) -> list[str]:
    """The words of a plain command, or [] for a compound one (or one shlex cannot split)."""
    if any(op in test_cmd for op in ("&&", "||", ";", "|", "`", "$(")):
        return []
    try:
        return shlex.split(test_cmd)
    except ValueError:
        return []


def argv_of(test_cmd: str) -> list[str]:
    """The words of a plain command, VAR=value prefixes dropped, or [] for a compound one."""
    argv = words_of(test_cmd)
    while argv and "=" in argv[0] and not argv[0].startswith("-"):
        argv.pop(0)
    return argv


def statuses(parsed: dict[str, str]) -> dict[str, str]:
    """swebench's statuses (PASSED, FAILED, ...) in this package's words."""
    return {test: _SWEBENCH.get(s, s.lower()) for test, s in parsed.items()}


class Runner:
    name = ""
    command = ""  # the command SWE-bench runs this kind of project with
    stream = "stderr"  # where the runner writes its per-test lines (unittest: stderr)

    @classmethod
    def calls(cls, test_cmd: str) -> bool:
        raise NotImplementedError

    def directives(self, test_files: list[str]) -> list[str]:
        """What the command is given for these test files."""
        return list(test_files)

    def alone(self, test_cmd: str, test_files: list[str]) -> str:
        """`test_cmd` run on these test files alone, or "" where it picks its tests already
        (a path or module among its arguments: more of them would not make it run fewer)."""
        argv = argv_of(test_cmd)
        words = [w for i, w in enumerate(argv[1:]) if w != "-m" and argv[i] != "-m"
                 and w.lstrip("./") != getattr(self, "marker", "")]  # the program's words
        if not argv or any(not w.startswith("-") and ("/" in w or "." in w or "::" in w)
                           for w in words):
            return ""
        return f"{test_cmd} {shlex.join(self.directives(test_files))}"

    def parse(self, stdout: str, stderr: str) -> dict[str, str]:
        """Per-test statuses from a run's output, keyed as SWE-bench rows name tests."""
        raise NotImplementedError

    def messages(self, stdout: str, stderr: str) -> dict[str, str]:
        """The traceback of each failing test, where the log has one."""
        return {}

    # The reproduction test an issue gets goes where this runner, called as the repo is
    # tested, finds it, and in the form it runs; its tests are told apart by their names.
    repro_style = "pytest tests"

    def repro_path(self, files: list[str]) -> str:
        """Where the reproduction test goes, given the repo's files."""
        return f"test_{REPRO}.py"

    def repro_support(self) -> list[str]:
        """Empty files the reproduction test needs beside it (a package's __init__.py)."""
        return []

    def is_repro(self, test: str, path: str) -> bool:
        """Whether `test`, as this runner names it, is one of the reproduction test's."""
        return test.startswith(path)


# Python 3.11's unittest names a test `test_x (app.tests.T.test_x)`; before it, and so in
# SWE-bench's rows made on older Pythons, it is `test_x (app.tests.T)`
_NEW_FORM = re.compile(r"^(\w+) \(([\w.]+)\.\1\)$")
_OLD_FORM = re.compile(r"^(\w+) \(([\w.]+)\)$")


def old_unittest_name(name: str) -> str:
    """A unittest test's name in the form of Python < 3.11 (`test_x (app.tests.T)`)."""
    m = _NEW_FORM.match(name)
    return f"{m[1]} ({m[2]})" if m else name


def both_forms(statuses: dict[str, str]) -> dict[str, str]:
    """`statuses` plus each unittest test under its name in the other Python's form, so that a
    row names its tests the same way whichever Python the environment runs."""
    out = dict(statuses)
    for test, status in statuses.items():
        m = _NEW_FORM.match(test)
        other = f"{m[1]} ({m[2]})" if m else ""
        if not m and (m := _OLD_FORM.match(test)):
            other = f"{m[1]} ({m[2]}.{m[1]})"
        if other:
            out.setdefault(other, status)
    return out


# `test_x (app.tests.T) (env={})`, `test_x (app.tests.T) [a message]`: one subtest of test_x,
# as unittest names it in a report (a message may hold the time: no two runs name it alike)
_SUBTEST = re.compile(r"^(\w+ \([\w.]+\)) [\[(].*[\])]$", re.DOTALL)
# unittest's report of a failing test: "FAIL: name", a rule, the traceback, up to the next rule
_UNITTEST_BLOCK = re.compile(r"^(FAIL|ERROR): (.+?)\n-{20,}\n(.*?)(?=^={20,}|^-{20,}\nRan |\Z)",
                             re.MULTILINE | re.DOTALL)


def unittest_statuses(log: str) -> dict[str, str]:
    """Per-test statuses from unittest's verbose log (Django's runner is unittest's), by
    swebench's parse_log_django, less its misreadings: "FAIL: test_x (app.tests.T)" adds a test
    "test_x" that no row names and that never passes; a test whose subtest fails gets no status
    on its own line, so before Python 3.11 the next test's line runs on from it
    ("test_a (m.T) ... test_b (m.T) ... ok") and test_a is lost, and from 3.11 the failure is
    reported under the subtest's name: test_a fails, by the report of its subtest."""
    from swebench.harness.log_parsers.python import parse_log_django

    parsed = {test.rsplit(" ... ", 1)[-1]: status
              for test, status in statuses(parse_log_django(log, None)).items()}
    for m in _UNITTEST_BLOCK.finditer(log):
        if (sub := _SUBTEST.match(m.group(2).strip())) and parsed.get(sub[1]) != ERROR:
            parsed[sub[1]] = ERROR if m.group(1) == "ERROR" else FAILED
    tests = [t for t in parsed if not _SUBTEST.match(t)]
    return {t: parsed[t] for t in tests if not any(other.startswith(t + " (") for other in tests)}


def unittest_messages(log: str) -> dict[str, str]:
    """Each failing test's traceback (a test's failing subtests', one after another)."""
    out: dict[str, str] = {}
    for m in _UNITTEST_BLOCK.finditer(log):
        name = m.group(2).strip()
        name = sub[1] if (sub := _SUBTEST.match(name)) else name
        out[name] = (out[name] + "\n\n" if name in out else "") + m.group(3).strip()
    return out
