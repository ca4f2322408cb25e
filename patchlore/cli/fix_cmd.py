"""`patchlore fix`: repair a repo's failing tests with a model, verified in the sandbox."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from patchlore.cli import options


def fix(
    repo: Path = options.REPO,
    test_cmd: str = typer.Option(None, "--test-cmd", help="Test command (default: setting)."),
    issue: str = typer.Option(None, "--issue", help="What is wrong, in words (a bug report)."),
    issue_file: Path = typer.Option(None, "--issue-file", help="Read the bug report from a file."),
    model: str = typer.Option(None, "--model", help="litellm model name, or replay:PATH."),
    api_base: str = typer.Option(None, "--api-base", help="Model endpoint, e.g. a vLLM server."),
    samples: int = typer.Option(4, "--samples", "-n", min=1, max=32,
                                help="Candidates per round (one request)."),
    rounds: int = typer.Option(2, "--rounds", min=1, max=10, help="Feedback rounds at most."),
    apply: bool = typer.Option(False, "--apply", help="Apply the verified patch to the repo."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the patch to this file."),
    max_cost: float = typer.Option(None, "--max-cost", help="Stop after this many dollars."),
    max_calls: int = typer.Option(None, "--max-calls", help="Stop after this many model calls."),
    timeout: float = typer.Option(None, "--timeout", help="Wall-clock seconds for the whole run."),
    workers: int = typer.Option(None, "--workers", help="Sandboxes verifying at once "
                                "(default: CPU cores, at most --samples)."),
    allow_test_edits: bool = typer.Option(False, "--allow-test-edits",
                                          help="Accept candidates that edit test files."),
    memory_mode: str = typer.Option(None, "--memory-mode",
                                    help="off, read (recall only) or online (recall and learn)."),
    memory: Path = options.MEMORY,
    memory_url: str = options.MEMORY_URL,
    sandbox: str = options.SANDBOX,
    image: str = options.IMAGE,
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
      patchlore fix --model hosted_vllm/Qwen/Qwen2.5-Coder-7B-Instruct --api-base http://gpu:8000/v1
      patchlore fix --issue "total() ignores the discount" --output fix.diff
      patchlore fix --model replay:.patchlore/runs/20261122-101500-ab12cd
    """
    import json
    import os

    from patchlore.agent.loop import RepairOptions, repair
    from patchlore.agent.model import make_model
    from patchlore.agent.trajectory import Trajectory
    from patchlore.cli import ui
    from patchlore.config import load_settings
    from patchlore.errors import EXIT_FAILED, PatchloreError
    from patchlore.sandbox.factory import open_sandbox
    from patchlore.sandbox.snapshot import find_repo_root, take_snapshot

    start = time.monotonic()
    root = find_repo_root(repo)
    settings = load_settings(root, {"test_cmd": test_cmd, "model": model, "api_base": api_base,
                                    "sandbox": sandbox, "image": image,
                                    "memory_mode": memory_mode, "memory_url": memory_url,
                                    "memory_dir": str(memory) if memory else None})
    task = issue or ""
    if issue_file:
        try:
            task = issue_file.read_text()
        except OSError as exc:
            raise PatchloreError(f"{issue_file}: {exc.strerror}") from None
    llm = make_model(settings.model, settings.api_base, timeout=min(settings.timeout, 600))
    snapshot = take_snapshot(root)
    store = None
    if settings.memory_mode != "off":
        from patchlore.memory.store import MemoryStore

        store = MemoryStore(settings.memory_dir, url=settings.memory_url)
    traj = Trajectory(runs_dir(root))
    traj.log("run_start", repo=str(root), model=settings.model, api_base=settings.api_base,
             test_cmd=settings.test_cmd, task=task, samples=samples, rounds=rounds)
    opts = RepairOptions(
        test_cmd=settings.test_cmd, task=task, samples=samples, rounds=rounds,
        test_timeout=settings.timeout, max_calls=max_calls, max_cost=max_cost,
        deadline=start + timeout if timeout else None,
        workers=workers or min(samples, os.cpu_count() or 1),
        allow_test_edits=allow_test_edits, memory=store, memory_mode=settings.memory_mode,
        repo_name=root.name)
    try:
        with ui.progress("starting the sandbox") as say:
            with open_sandbox(settings, str(root), warn=ui.warn, snapshot=snapshot) as box:
                result = repair(snapshot, box, llm, opts, traj,
                                more_boxes=lambda: open_sandbox(settings, str(root),
                                                                snapshot=snapshot),
                                progress=say)
    finally:
        traj.close()
    (traj.dir / "result.json").write_text(json.dumps(result.to_dict(), indent=2))
    if result.patch:
        (traj.dir / "patch.diff").write_text(result.patch)
        if output:
            output.write_text(result.patch)
    applied_note = _apply(snapshot, result.patch, traj.dir) if apply and result.verified else ""
    if as_json:
        ui.print_json({"run_id": traj.run_id, "run_dir": str(traj.dir),
                       "applied": bool(applied_note), **result.to_dict()})
    else:
        _show(result, traj, settings.model)
        if applied_note:
            ui.info(applied_note)
    if result.status not in ("verified", "nothing-to-fix"):
        raise typer.Exit(EXIT_FAILED)


def runs_dir(root: Path) -> Path:
    base = root / ".patchlore"
    base.mkdir(exist_ok=True)
    ignore = base / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# patchlore's run records: not part of the project\n*\n")
    return base / "runs"


def _apply(snapshot, patch: str, run_dir: Path) -> str:
    """Apply to the host tree, refusing if touched files changed since the snapshot."""
    import re
    import shutil
    import subprocess

    from patchlore.errors import PatchloreError

    touched = sorted({a or b for a, b in re.findall(r"^--- a/(\S+)|^\+\+\+ b/(\S+)", patch,
                                                   re.MULTILINE)})
    changed = snapshot.changed_since(touched)
    if changed:
        raise PatchloreError(
            f"not applied: {', '.join(changed)} changed since the run started",
            hint=f"the verified patch is in {run_dir / 'patch.diff'}; apply it by hand")
    backup = run_dir / "backup"
    for name in touched:
        if (snapshot.root / name).exists():
            (backup / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(snapshot.root / name, backup / name)
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=snapshot.root,
                         capture_output=True, text=True).stdout.strip()
    rel = str(snapshot.root.relative_to(Path(top).resolve())) if top else "."
    cmd = ["git", "apply", "--whitespace=nowarn"]
    if rel != ".":
        cmd.append(f"--directory={rel}")
    done = subprocess.run([*cmd, str(run_dir / "patch.diff")], cwd=top or snapshot.root,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise PatchloreError(f"not applied: git apply failed: {done.stderr.strip()[:200]}",
                             hint=f"the verified patch is in {run_dir / 'patch.diff'}")
    return (f"applied to {snapshot.root}; originals saved in {backup}; "
            f"undo with: git apply -R {run_dir / 'patch.diff'}")


def _show(result, traj, model: str) -> None:
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
        ("run record", str(traj.dir)),
    ]
    for k, v in rows:
        table.add_row(k, v)
    ui.err().print(table)
    if not result.verified and result.candidates:
        reasons = [c.reason.splitlines()[0] for c in result.candidates if c.reason][:4]
        for r in reasons:
            ui.info(f"  candidate rejected: {r}")
