"""Which of the repo's functions the passing tests run: one run of the suite in the sandbox with
a profile hook (trace_site.py as sitecustomize) that records each function called, under the
test that called it. Practice mutates only those: a mutant of code no passing test runs can
never be caught, so trying it only costs a suite run."""

from __future__ import annotations

import json
from importlib.resources import files

from patchlore.sandbox.base import Sandbox
from patchlore.sandbox.testrun import TestRun, run_tests


def traced_calls(box: Sandbox, test_cmd: str,
                 timeout: float | None) -> tuple[list[tuple[str, int, str]], TestRun]:
    """(path in the repo, first line of the code called, test id or '') of one traced run, and
    the run (the unchanged code's second: verify.steady compares it with the first)."""
    site = f"{box.scratch_path}/patchlore-trace"
    out = f"{box.scratch_path}/trace-calls.jsonl"
    box.run(f"rm -rf {site} {out}; mkdir -p {site}")
    box.write_file(f"{site}/sitecustomize.py",
                   files("patchlore.evals.practice").joinpath("trace_site.py").read_bytes())
    # the environment's own PYTHONPATH (a src layout, an installed environment) stays behind ours
    inherited = box.run('printf %s "$PYTHONPATH"').stdout.strip()
    env = {"PYTHONPATH": f"{site}:{inherited}" if inherited else site,
           "PATCHLORE_TRACE_OUT": out, "PATCHLORE_TRACE_ROOT": box.repo_path}
    run = run_tests(box, test_cmd, timeout=timeout, env=env)
    calls = []
    for line in (box.read_file(out) or b"").decode("utf-8", "replace").splitlines():
        try:
            path, first, test = json.loads(line)
        except (ValueError, TypeError):  # a line torn by a killed run
            continue
        calls.append((path, int(first), test))
    return calls, run


def covered_lines(calls: list[tuple[str, int, str]], passing: list[str]) -> dict[str, set[int]]:
    """The first lines of the code each file's passing tests called. Under pytest a call
    outside every test (at import, at collection) counts for none; a runner that names no
    test (Django's, unittest) counts the whole passing run."""
    ok = set(passing)
    named = any(test for _, _, test in calls)
    out: dict[str, set[int]] = {}
    for path, first, test in calls:
        if test in ok or not (named or test):
            out.setdefault(path, set()).add(first)
    return out


def is_covered(lines: dict[str, set[int]], path: str, first: int, last: int) -> bool:
    """Whether any code in lines first..last of path (the function, its nested code) ran."""
    return any(first <= n <= last for n in lines.get(path, ()))
