"""`patchlore check`: for pre-commit hooks and CI. Green tests cost almost nothing; red tests get
a verified patch suggestion within a time budget. Never prompts, never hangs.

The passing path imports no model, chromadb or docker code: it runs the tests and exits.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer

from patchlore.cli import options

BUDGET = 300  # seconds for tests plus repair when the deadline setting is unset


def check(
    command: list[str] = typer.Argument(..., help="The test command (after --)."),
    fix: bool = typer.Option(False, "--fix", help="Apply a verified patch to the working tree "
                             "(never the index); still exit 1 so it gets reviewed."),
    deadline: float = options.setting("deadline", "check"),
    model: str = options.setting("model"),
    api_base: str = options.setting("api_base"),
    samples: int = options.setting("samples"),
    rounds: int = options.setting("rounds"),
    agent: str = options.setting("agent"),
    max_steps: int = options.setting("max_steps"),
    fmt: str = typer.Option("text", "--format", help="text, json or markdown (for a CI job "
                            "summary or a pull-request comment)."),
    repo: Path = options.REPO,
    memory_mode: str = options.setting("memory_mode"),
    memory_dir: Path = options.setting("memory_dir"),
    memory_url: str = options.setting("memory_url"),
    sandbox: str = options.setting("sandbox"),
    image: str = options.setting("image"),
) -> None:
    """Run the tests; if they fail, try to repair them within the budget.

    Exit 0: tests pass. Exit 1: tests fail (a verified patch, if found, is printed and written
    to .patchlore/suggested.patch; with --fix also applied to the working tree). Exit 2: the
    command cannot run (not found, bad options).

    \b
    Examples:
      patchlore check -- pytest -q
      patchlore check --fix --budget 120 -- python -m pytest -q tests/unit
      patchlore check --format markdown -- pytest -q >> "$GITHUB_STEP_SUMMARY"
    """
    from patchlore.errors import EXIT_FAILED, PatchloreError

    options.one_of("--format", fmt, ("text", "json", "markdown"))
    start = time.monotonic()
    cmd = command[0] if len(command) == 1 else shlex.join(command)
    # settings first, so a bad flag or config value is an error before any test runs
    settings = options.load_settings(repo, test_cmd=cmd)
    if fix:
        from patchlore.repair.session import refuse_unwritable_tree

        refuse_unwritable_tree(repo, "--fix")
    budget = settings.deadline or BUDGET
    code, out, timed_out, tests = _run_on_host(cmd, repo, budget)
    if code == 0 and not timed_out:
        took = time.monotonic() - start
        if fmt == "json":
            print(f'{{"status": "passed", "seconds": {took:.3f}}}')
        elif fmt == "markdown":
            print(f"### patchlore check: tests pass\n\n`{cmd}` passed in {took:.1f} s.")
        else:
            print(f"patchlore check: tests pass ({took:.1f} s)", file=sys.stderr)
        return
    if code == 127 and not timed_out and not tests:
        said = out.strip().splitlines()[-1][:200] if out.strip() else "exit 127"
        raise PatchloreError(f"test command not found: {cmd} ({said})")
    if code == 5 and not timed_out and not tests and _is_pytest(cmd):
        raise PatchloreError(f"pytest collected no tests: {cmd}",
                             hint="pass the command that runs the repo's tests")
    report = {"status": "failed", "command": cmd, "failing": tests,
              "timed_out": timed_out, "output_tail": out[-3000:]}
    if timed_out:
        report["note"] = f"the tests did not finish within the {budget:.0f} s budget"
    else:
        report.update(_repair(settings, repo, fix, start + budget - time.monotonic()))
    report["seconds"] = round(time.monotonic() - start, 2)
    _print(report, fmt)
    raise typer.Exit(EXIT_FAILED)


def _is_pytest(cmd: str) -> bool:
    from patchlore.sandbox.runners.pytest import with_junit

    return with_junit(cmd, "x.xml") is not None


def _run_on_host(cmd: str, repo: Path, budget: float) -> tuple[int | None, str, bool, list[str]]:
    """Run the test command as the user would; the failing tests by name when it calls a known
    runner (pytest by its JUnit XML, Django's, sympy's, unittest by their logs)."""
    from patchlore.sandbox.runners import for_command
    from patchlore.sandbox.runners.base import ERROR, FAILED
    from patchlore.sandbox.runners.pytest import parse_junit, with_junit

    xml = Path(tempfile.mkdtemp(prefix="patchlore-check-")) / "junit.xml"
    argv = with_junit(cmd, str(xml)) or cmd
    # stdout and stderr apart: unittest's result lines are read from stderr alone (a test's own
    # print on stdout would otherwise run into them and hide its outcome)
    proc = subprocess.Popen(argv, shell=True, cwd=repo, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=max(budget, 1))
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    except BaseException:  # Ctrl-C, SIGTERM: its own session does not get the signal
        os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(xml.parent, ignore_errors=True)
        raise
    stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    failing = []
    if xml.is_file():
        try:
            failing = sorted(k for k, t in parse_junit(xml.read_bytes()).items()
                             if t.status in (FAILED, ERROR))
        except Exception:  # a half-written report after a kill
            pass
        xml.unlink()
    elif (runner := for_command(cmd)) and runner.name != "pytest":
        failing = sorted(t for t, s in runner.parse(stdout, stderr).items()
                         if s in (FAILED, ERROR))
    xml.parent.rmdir()
    return proc.returncode, stdout + stderr, timed_out, failing


def _repair(settings, repo: Path, fix: bool, seconds_left: float) -> dict:
    """A verified patch within the time left, or why there is none. Never raises."""
    from dataclasses import replace

    from patchlore.repair.loop import RepairOptions
    from patchlore.repair.session import apply_to_worktree, records_dir, run_repair
    from patchlore.errors import PatchloreError
    from patchlore.sandbox.snapshot import find_repo_root

    if seconds_left < 5:
        return {"note": "no time left in the budget for a repair"}
    try:
        root = find_repo_root(repo)
        # what is left of the budget bounds every command too (an install, a test run)
        settings = replace(settings, command_timeout=seconds_left, deadline=seconds_left)
        opts = RepairOptions.of(settings, root.name, time.monotonic())
        session = run_repair(root, settings, opts,
                             warn=lambda m: print(f"warning: {m}", file=sys.stderr))
    except PatchloreError as exc:
        return {"note": f"no repair: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")}
    result = session.result
    out = {"repair": result.status, "message": result.message,
           "candidates": len(result.candidates),
           "cost": round(result.usage.cost, 4), "run_dir": str(session.run_dir)}
    if result.verified:
        suggested = records_dir(root) / "suggested.patch"  # beside the run records
        suggested.write_text(result.patch)
        out["patch"] = result.patch
        out["suggested"] = str(suggested)
        if fix:
            try:
                out["applied"] = apply_to_worktree(session.snapshot, result.patch,
                                                   session.run_dir)
            except PatchloreError as exc:
                out["note"] = exc.message
    return out


def _print(report: dict, fmt: str) -> None:
    import json

    if fmt == "json":
        print(json.dumps(report, indent=2))
        return
    failing = report["failing"] or [f"`{report['command']}` failed"]
    if fmt == "markdown":
        lines = ["### patchlore check: tests fail", "",
                 *[f"- `{t}`" for t in failing[:20]], ""]
        if report.get("patch"):
            lines += ["**Verified patch** (all failing tests pass, no passing test broke):", "",
                      "```diff", report["patch"].rstrip(), "```", ""]
        lines.append(report.get("message") or report.get("note") or "")
        lines.append(f"\n{report['seconds']} s, ${report.get('cost', 0):.4f}")
        print("\n".join(lines))
        return
    print(report["output_tail"][-2000:], file=sys.stderr)
    print("patchlore check: tests fail: " + ", ".join(failing[:10]), file=sys.stderr)
    if report.get("patch"):
        print(report["patch"], end="" if report["patch"].endswith("\n") else "\n")
        print(f"verified patch written to {report['suggested']}", file=sys.stderr)
        if report.get("applied"):
            print(report["applied"] + " (not staged: review it, then commit)", file=sys.stderr)
    print(report.get("note") or report.get("message", ""), file=sys.stderr)
