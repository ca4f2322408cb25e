"""Mine SWE-bench-style instances from a git repository's history.

An instance is a commit whose message says it fixes something and that changes both the code
and a test file, where the test file gains test functions (pytest node ids, `path::name` or
`path::Class::name`): the code part is the gold `patch`, the test part the `test_patch`, the new
tests FAIL_TO_PASS (they cannot pass before: they do not exist there), the tests already in those
files PASS_TO_PASS. Whether the new tests pass after the fix is what grading the gold patch
measures; the empty patch must resolve none.

Used by benchmarks/env_generalize.py; runs on bare mirrors (git only, no checkout).
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

FIX = re.compile(r"\b(fix(es|ed)?|bug|regression|issue|broken|crash(es)?|error)\b|#\d+", re.I)
TEST_FILE = re.compile(r"(^|/)(tests?/.*\.py|test_[^/]*\.py|[^/]*_test\.py)$")
DOC = re.compile(r"(^docs?/|^changelog\.d/|\.(rst|md|txt)$)")
CODE = (".py", ".c", ".h", ".pyx", ".pxd")
MAX_CODE_LINES = 120  # small fixes: a gold patch is a bug fix, not a feature branch


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          errors="replace").stdout


def test_ids(path: str, source: str) -> list[str]:
    """The pytest node ids of the plain (unparametrized) tests a file defines."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []

    def plain(fn) -> bool:
        return fn.name.startswith("test") and not any(
            "parametrize" in ast.unparse(d) for d in fn.decorator_list)
    ids = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and plain(node):
            ids.append(f"{path}::{node.name}")
        elif isinstance(node, ast.ClassDef) and (node.name.startswith("Test") or any(
                "TestCase" in ast.unparse(b) for b in node.bases)):  # unittest's, any name
            ids += [f"{path}::{node.name}::{m.name}" for m in node.body
                    if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and plain(m)]
    return ids


def instance(repo: Path, name: str, sha: str) -> dict | None:
    parents = git(repo, "rev-list", "--parents", "-n1", sha).split()
    if len(parents) != 2:  # merges and roots: no single base
        return None
    base = parents[1]
    changed = [ln.split("\t") for ln in git(repo, "diff", "--name-status", base, sha).splitlines()]
    if any(st[0] not in "MA" for st in changed):  # renames and deletions: keep it simple
        return None
    files = [f for _, f in changed]
    tests = [f for f in files if TEST_FILE.search(f)]
    # the change log and docs are left out of both patches; other files (setup.py, CI, data)
    # mean the fix is more than code: not an instance
    notes = [f for f in files if f not in tests and (DOC.search(f) or not f.count("/") and
                                                      f.upper().startswith(("CHANGE", "HISTORY")))]
    code = [f for f in files if f.endswith(CODE) and f not in tests and f not in notes
            and not re.match(r"(benchmarks?|examples?)/", f) and f != "setup.py"]
    if not tests or not code or len(files) != len(tests) + len(code) + len(notes):
        return None
    patch = git(repo, "diff", base, sha, "--", *code)
    if sum(ln[:1] in "+-" for ln in patch.splitlines()) > MAX_CODE_LINES:
        return None
    f2p, p2p = [], []
    for t in tests:
        before = set(test_ids(t, git(repo, "show", f"{base}:{t}"))) if any(
            st == "M" and f == t for st, f in changed) else set()
        after = test_ids(t, git(repo, "show", f"{sha}:{t}"))
        f2p += [i for i in after if i not in before]
        p2p += [i for i in after if i in before]
    if not f2p:
        return None
    date, subject = git(repo, "show", "-s", "--format=%cI%x00%s", sha).split("\x00", 1)
    return {"instance_id": f"{name.replace('/', '__')}-{sha[:8]}", "repo": name,
            "base_commit": base, "patch": patch, "test_patch": git(repo, "diff", base, sha, "--",
                                                                     *tests),
            "problem_statement": subject.strip(), "FAIL_TO_PASS": f2p, "PASS_TO_PASS": p2p,
            "created_at": date.strip(), "version": ""}


def mine(repo: Path, name: str, per_era: int, eras: list[tuple[int, int]]) -> list[dict]:
    """Up to `per_era` instances per era (inclusive years), the newest of each era first."""
    found = []
    log = git(repo, "log", "--no-merges", "--format=%H%x00%cs%x00%s", "HEAD").splitlines()
    for lo, hi in eras:
        got = 0
        for line in log:
            sha, day, subject = line.split("\x00", 2)
            if got >= per_era or not lo <= int(day[:4]) <= hi or not FIX.search(subject):
                continue
            row = instance(repo, name, sha)
            if row:
                found.append(row)
                got += 1
    return found
