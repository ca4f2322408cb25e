"""`patchlore localize`: what the model would be shown for an issue, and why; no model called."""

from __future__ import annotations

from pathlib import Path

import typer

from patchlore.cli import options


def localize(
    repo: Path = options.REPO,
    issue: str = typer.Option(None, "--issue", help="What is wrong, in words (a bug report)."),
    issue_file: Path = typer.Option(None, "--issue-file", help="Read the bug report from a file."),
    tests: str = typer.Option(None, "--test-cmd", help="Run these tests in the sandbox first: "
                                 "their failures and tracebacks guide the search, as in `fix`."),
    context_budget: int = options.setting("context_budget", "localize"),
    sandbox: str = options.setting("sandbox"),
    image: str = options.setting("image"),
    memory_mode: str = options.setting("memory_mode"),
    memory_dir: Path = options.setting("memory_dir"),
    memory_url: str = options.setting("memory_url"),
    as_json: bool = typer.Option(False, "--json", help='Print {"snippets": [{"path", '
                                 '"start_line", "end_line", "chars", "why"}], "recalled": '
                                 '[episode id], "failing": [test] with --test-cmd}.'),
) -> None:
    """Show the code `fix` would put in front of the model for this issue, and why each piece.

    The same step as `fix` and `eval run` (without a model): functions from the tracebacks,
    the failing tests, what similar repairs recalled from memory changed, then the repo's
    functions ranked by a search for the issue's names, paths and errors, until the budget
    is spent. Line numbers are 1-based and inclusive. The search index is built once per
    state of the repo and cached. Memory is only read (--memory-mode off: not at all).

    \b
    Examples:
      patchlore localize --issue "Schema.load crashes on a nested list of None"
      patchlore localize --issue-file bug.md --budget 3000 --json
      patchlore localize --test-cmd "pytest -q tests/test_parser.py"
    """
    from patchlore.localize.localize import localize_repo, traces_of
    from patchlore.cli import ui
    from patchlore.errors import PatchloreError
    from patchlore.sandbox.snapshot import take_snapshot

    task = options.issue_text(issue, issue_file)
    if not task.strip() and not tests:
        raise PatchloreError("nothing to localize",
                             hint="give --issue, --issue-file or --test-cmd")
    snapshot = take_snapshot(repo)
    settings = options.load_settings(snapshot.root)
    traces, failing, repo_path, failures = "", [], "", {}
    if tests:
        from patchlore.sandbox.factory import open_sandbox
        from patchlore.sandbox.verify import failing_tests, failure_map
        from patchlore.sandbox.testrun import run_tests

        with ui.status("running the tests in a sandbox"):
            with open_sandbox(settings, str(snapshot.root), warn=ui.warn, snapshot=snapshot,
                              note=ui.info) as box:
                run = run_tests(box, tests, timeout=settings.command_timeout)
                repo_path = box.repo_path
        traces, failing = traces_of(run), failing_tests(run)
        failures = failure_map(run, failing)
    demos = _recalled(settings, task, failures)
    with ui.status("searching the repo"):
        snippets = localize_repo(snapshot.root, snapshot.files, task=task, traceback=traces,
                                 failing_tests=failing, repo_path=repo_path,
                                 budget_tokens=settings.context_budget,
                                 recalled=[(d.id, d.diff) for d in demos])
    if as_json:
        ui.print_json({"snippets": [s.to_dict() for s in snippets],
                       "recalled": [d.id for d in demos],
                       **({"failing": failing} if tests else {})})
        return
    _show(snippets, settings.context_budget, failing)
    if demos:
        ui.info(f"recalled from memory: {len(demos)} similar repair(s)")


def _recalled(settings, task: str, failures: dict[str, str]) -> list:
    """The demonstrations `fix` would recall for this issue (memory opened read-only, as
    localizing writes nothing)."""
    from dataclasses import replace

    from patchlore.cli import ui
    from patchlore.memory.retrieve import recall_for
    from patchlore.repair.session import open_memory

    if settings.memory_mode == "off":
        return []
    store = open_memory(replace(settings, memory_mode="read"), ui.warn)
    with ui.status("recalling similar repairs"):
        return recall_for(store, task, failures).demos


def _show(snippets, budget: int, failing: list[str]) -> None:
    from rich.table import Table

    from patchlore.cli import ui
    from patchlore.localize.picker import SnippetKind

    used = sum(len(s.text) for s in snippets)
    table = Table(title=f"patchlore localize: {len(snippets)} snippet(s), {used:,} of "
                  f"{budget * 4:,} characters", title_justify="left")
    for col in ("file", "lines", "chars", "why"):
        table.add_column(col, overflow="fold")
    for s in snippets:
        lines = "outline" if s.kind == SnippetKind.OUTLINE else f"{s.start_line}-{s.end_line}"
        table.add_row(s.path, lines, f"{len(s.text):,}", s.why)
    ui.out().print(table)
    if failing:
        shown = ", ".join(failing[:5]) + (f", ... ({len(failing) - 5} more)" if failing[5:] else "")
        ui.info(f"failing tests: {len(failing)}: {shown}")
