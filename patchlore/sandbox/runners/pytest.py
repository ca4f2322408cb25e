"""pytest: per-test outcomes from its JUnit XML (xunit1, which records each test's file),
keyed by node id, the form SWE-bench uses; sandbox/testrun.py adds the XML to a pytest call."""

from __future__ import annotations

import shlex
import xml.etree.ElementTree as ET

from patchlore.sandbox.runners.base import (ERROR, FAILED, PASSED, SKIPPED, XFAIL, Runner,
                                            TestOutcome, argv_of, cut_message, words_of)


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


def with_junit(test_cmd: str, xml_path: str) -> str | None:
    """`test_cmd` with JUnit output added, or None if it is not a plain pytest call."""
    argv = words_of(test_cmd)
    at = pytest_argv_index(argv)
    if at is None:
        return None
    extra = [f"--junitxml={xml_path}", "-o", "junit_family=xunit1", "-o", "junit_logging=no"]
    if not any(a.startswith("--tb") for a in argv):
        extra.append("--tb=short")
    return shlex.join(argv[:at] + extra + argv[at:])


def node_id(case: ET.Element) -> str:
    name = case.get("name", "")
    classname = case.get("classname", "")
    file = case.get("file")
    if not file:  # xunit2 has no file: guess from the dotted class path
        parts = classname.split(".")
        mods = [p for p in parts if not p[:1].isupper()]
        classes = parts[len(mods):]
        return "::".join(["/".join(mods) + ".py", *classes, name])
    module = file[:-3].replace("/", ".") if file.endswith(".py") else file
    rest = classname[len(module) + 1:] if classname.startswith(module + ".") else ""
    return "::".join([file, *(rest.split(".") if rest else []), name])


def parse_junit(xml: bytes) -> dict[str, TestOutcome]:
    root = ET.fromstring(xml)
    tests: dict[str, TestOutcome] = {}
    for case in root.iter("testcase"):
        status, message = PASSED, ""
        for child in case:
            if child.tag in ("failure", "error"):
                status = FAILED if child.tag == "failure" else ERROR
                message = (child.get("message", "") + "\n" + (child.text or "")).strip()
                break
            if child.tag == "skipped":
                status = XFAIL if child.get("type") == "pytest.xfail" else SKIPPED
                message = child.get("message", "")
        message = cut_message(message)
        key = node_id(case)
        # pytest reports a test that fails in teardown twice: the worse outcome wins
        if key not in tests or tests[key].status == PASSED:
            tests[key] = TestOutcome(status, message, float(case.get("time", 0) or 0))
    return tests


class PytestRunner(Runner):
    name = "pytest"
    command = "pytest -rA"
    markers = ("pytest.ini", "conftest.py", "tests/conftest.py")

    @classmethod
    def calls(cls, test_cmd: str) -> bool:
        return pytest_argv_index(argv_of(test_cmd)) is not None

    def parse(self, stdout: str, stderr: str) -> dict[str, str]:
        raise NotImplementedError("pytest's outcomes come from its JUnit XML (run_tests)")
