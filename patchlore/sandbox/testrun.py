"""Running a test command in a sandbox and reading per-test outcomes.

pytest runs write JUnit XML (sandbox/runners/pytest.py) and yield per-test results keyed by
pytest node id, the form SWE-bench uses. A command that calls another known runner
(Django's tests/runtests.py, sympy's bin/test, `python -m unittest`: sandbox/runners/) yields
per-test results read from its log by that runner. Any other command yields its exit code only.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field

from patchlore.errors import PatchloreError
from patchlore.sandbox.base import CommandResult, Sandbox
from patchlore.sandbox.runners import for_command
# the statuses are used here and, through this module, by every caller of run_tests
from patchlore.sandbox.runners.base import (ERROR, FAILED, PASSED, SKIPPED, XFAIL,  # noqa: F401
                                            TestOutcome, cut_message)
from patchlore.sandbox.runners.pytest import parse_junit, with_junit

# pytest's last line when it collected nothing (exit 5), with or without -q
NO_TESTS_RAN = re.compile(r"^=*\s*no tests ran in \d", re.MULTILINE)


@dataclass
class TestRun:
    command: CommandResult
    kind: str  # "junit" or "log" (per-test outcomes, from JUnit XML or a runner's log), "exit-code"
    tests: dict[str, TestOutcome] = field(default_factory=dict)
    # a baseline compared with a second run of the same code (verify.steady): its tests are
    # then only those that run reported as this one did
    steadied: bool = False

    @property
    def per_test(self) -> bool:
        """Outcomes per test (a run that reported some), not just an exit code."""
        return self.kind in ("junit", "log") and bool(self.tests)

    @property
    def passed(self) -> bool:
        if self.command.timed_out:
            return False
        if self.per_test:
            return all(t.passed or t.status == SKIPPED for t in self.tests.values())
        return self.command.exit_code == 0

    @property
    def statuses(self) -> dict[str, str]:
        return {k: t.status for k, t in self.tests.items()}

    @property
    def unusable(self) -> str:
        """Why this run says nothing about the code (a command that does not exist, a pytest
        that collected no tests), or ''."""
        code = self.command.exit_code
        if self.tests or self.command.timed_out:
            return ""
        if code in (126, 127):
            return f"the test command cannot run (exit {code}: not found or not executable)"
        # a pytest inside a compound command (`cd sub && pytest`) gets no JUnit file: its words
        if code == 5 and (self.kind == "junit" or NO_TESTS_RAN.search(self.command.stdout)):
            return "pytest collected no tests (exit 5)"
        return ""

    def ids(self, *statuses: str) -> list[str]:
        return sorted(k for k, t in self.tests.items() if t.status in statuses)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tests.values():
            out[t.status] = out.get(t.status, 0) + 1
        return out

    def to_dict(self) -> dict:
        return {"kind": self.kind, "passed": self.passed, "counts": self.counts,
                "command": self.command.to_dict(),
                "tests": {k: asdict(v) for k, v in sorted(self.tests.items())}}


def run_tests(sandbox: Sandbox, test_cmd: str, timeout: float | None = None,
              env: dict[str, str] | None = None) -> TestRun:
    if not test_cmd.strip():  # a blank command exits 0 and says nothing: never a test run
        raise PatchloreError("no test command to run", hint="pass --test-cmd")
    xml_path = f"{sandbox.scratch_path}/junit-{uuid.uuid4().hex}.xml"
    cmd = with_junit(test_cmd, xml_path)
    # pytest-timeout (in the sandbox images) fails a hanging test alone and goes on; pytest
    # without the plugin ignores the variable, and the command's timeout stays the backstop
    limit = sandbox.test_time_limit
    env = {**({"PYTEST_TIMEOUT": f"{limit:g}"} if cmd and limit > 0 else {}), **(env or {})}
    result = sandbox.run(cmd or test_cmd, timeout=timeout, env=env or None)
    result.command = test_cmd
    if cmd is None:
        return _from_log(result)
    # the junit plugin announces our scratch file; the user never asked for it
    result.stdout = "".join(
        ln for ln in result.stdout.splitlines(keepends=True) if xml_path not in ln
    )
    xml = sandbox.read_file(xml_path)
    if not xml:
        return TestRun(result, "exit-code")
    try:
        return TestRun(result, "junit", parse_junit(xml))
    except ET.ParseError:
        return TestRun(result, "exit-code")


def _from_log(result: CommandResult) -> TestRun:
    """Per-test outcomes from the log of a runner other than pytest, if the command calls one."""
    runner = for_command(result.command)
    if runner is None or runner.name == "pytest":  # a pytest run whose JUnit could not be added
        return TestRun(result, "exit-code")
    statuses = runner.parse(result.stdout, result.stderr)
    messages = runner.messages(result.stdout, result.stderr)
    tests = {t: TestOutcome(s, cut_message(messages.get(t, ""))) for t, s in statuses.items()}
    return TestRun(result, "log" if tests else "exit-code", tests)
