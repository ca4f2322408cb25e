"""`patchlore fix`: repair a repo's failing tests with a model, verified in the sandbox."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from patchlore.cli import options


def fix(
    repo: Path = options.REPO,
    test_cmd: str = options.setting("test_cmd"),
    issue: str = typer.Option(None, "--issue", help="What is wrong, in words (a bug report)."),
    issue_file: Path = typer.Option(None, "--issue-file", help="Read the bug report from a file."),
    model: str = options.setting("model"),
    api_base: str = options.setting("api_base"),
    samples: int = options.setting("samples"),
    rounds: int = options.setting("rounds"),
    apply: bool = typer.Option(False, "--apply", help="Apply the verified patch to the repo."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the patch to this file."),
    max_cost: float = typer.Option(None, "--max-cost", callback=options.positive,
                                   help="Stop after this many dollars."),
    max_calls: int = typer.Option(None, "--max-calls", min=1,
                                  help="Stop after this many model calls."),
    deadline: float = options.setting("deadline", "fix"),
    workers: int = typer.Option(None, "--workers", min=1, help="Sandboxes verifying at once "
                                "(default: CPU cores, at most --samples)."),
    agent: str = options.setting("agent"),
    max_steps: int = options.setting("max_steps"),
    localize: str = options.setting("localize"),
    allow_test_edits: bool = typer.Option(False, "--allow-test-edits",
                                          help="Accept candidates that edit test files."),
    memory_mode: str = options.setting("memory_mode"),
    memory_dir: Path = options.setting("memory_dir"),
    memory_url: str = options.setting("memory_url"),
    sandbox: str = options.setting("sandbox"),
    image: str = options.setting("image"),
    setup: bool = options.setting("setup"),
    as_json: bool = options.JSON,
) -> None:
    """Fix failing tests: propose candidate patches, verify each in the sandbox, keep the best.

    The working tree changes only with --apply (which refuses if the files changed meanwhile
    and keeps a backup). Exit 0: verified fix (or nothing to fix); 1: none found; 2: usage or
    environment error. Every run is recorded under .patchlore/runs/<id>/.

    \b
    Examples:
      patchlore fix                                   # the repo's failing tests
      patchlore fix --test-cmd "pytest -q tests/unit" --samples 8 --apply
      patchlore fix --model hosted_vllm/mistralai/Devstral-Small-2-24B-Instruct-2512 --api-base http://gpu:8000/v1
      patchlore fix --issue "total() ignores the discount" --output fix.diff
      patchlore fix --agent explore --samples 3 --max-steps 30
      patchlore fix --model replay:.patchlore/runs/20261122-101500-ab12cd
    """
    from patchlore.propose.outcome import Outcome
    from patchlore.repair.loop import RepairOptions
    from patchlore.repair.session import (apply_to_worktree, refuse_unwritable_tree,
                                          run_repair)
    from patchlore.cli import ui
    from patchlore.errors import EXIT_FAILED, PatchloreError
    from patchlore.sandbox.snapshot import find_repo_root

    start = time.monotonic()
    root = find_repo_root(repo)
    settings = options.load_settings(root)
    if output:
        options.check_writable(output)
        _refuse_a_repo_file(root, output)
    if apply:
        refuse_unwritable_tree(root, "--apply")
    task = options.issue_text(issue, issue_file)
    opts = RepairOptions.of(settings, root.name, start, workers or 0, root=root, task=task,
                            max_calls=max_calls, max_cost=max_cost,
                            allow_test_edits=allow_test_edits)
    with ui.progress("starting") as say:
        session = run_repair(root, settings, opts, warn=ui.warn, progress=say, note=ui.info)
    result = session.result
    applied_note = ""
    if apply and result.verified:
        applied_note = apply_to_worktree(session.snapshot, result.patch, session.run_dir)
    if as_json:
        ui.print_json({"run_id": session.run_id, "run_dir": str(session.run_dir),
                       "applied": bool(applied_note), **result.to_dict()})
    else:
        _show(result, session.run_dir, settings.model)
        if applied_note:
            ui.info(applied_note)
    if result.patch and output:  # after the patch is shown, so a failed write loses nothing
        try:
            output.write_text(result.patch)
        except OSError as exc:
            raise PatchloreError(f"--output {output}: {exc.strerror}",
                                 hint=f"the patch is also in {session.run_dir / 'patch.diff'}"
                                 ) from None
    if result.status not in (Outcome.VERIFIED, Outcome.NOTHING_TO_FIX):
        raise typer.Exit(EXIT_FAILED)


def _show(result, run_dir: Path, model: str) -> None:
    from rich.table import Table

    from patchlore.cli import ui

    if result.patch:
        ui.show_diff(result.patch)
    table = Table(title=f"patchlore fix: {result.message}", title_justify="left",
                  show_header=False)
    table.add_column("what")
    table.add_column("value")
    u = result.usage
    verified = sum(c.verified for c in result.candidates)
    rows = [
        ("status", result.status),
        ("failing tests before", str(len(result.failing_before))),
        ("candidates", f"{len(result.candidates)} distinct, {verified} verified"),
        ("rounds", str(result.rounds)),
        ("time", f"{result.seconds:.1f} s (test runs: {result.test_seconds:.1f} s in all, "
                 "some in parallel)"),
        ("tokens", f"{u.prompt_tokens} prompt, {u.completion_tokens} completion, {u.calls} call(s)"),
        ("cost", f"${u.cost:.4f}" + (f" ({u.unpriced_calls} call(s) of {model} unpriced: "
                                     "counted as $0)" if u.unpriced_calls else "")),
        ("run record", str(run_dir)),
    ]
    for k, v in rows:
        table.add_row(k, v)
    ui.err().print(table)
    if not result.verified:
        for line in ui.rejections(result.candidates):
            ui.info(line)


def _refuse_a_repo_file(root: Path, output: Path) -> None:
    """--output onto a file the repo tracks would overwrite the code being fixed (with --apply,
    the file just fixed, and the printed undo no longer works)."""
    import subprocess

    from patchlore.paths import refuse_output_onto_inputs

    tracked = subprocess.run(["git", "-C", str(root), "ls-files", "--error-unmatch", "--",
                              str(output.resolve())], capture_output=True).returncode == 0
    if tracked:
        refuse_output_onto_inputs(output, "--output", {"a file of the repo": output})
