"""`patchlore runs`: the record of past runs in .patchlore/runs/."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from patchlore.cli import options

app = typer.Typer(help="List and show recorded runs (trajectories).", no_args_is_help=True)


def _runs(repo: Path) -> list[Path]:
    from patchlore.repair.session import runs_dirs
    from patchlore.sandbox.snapshot import find_repo_root

    return runs_dirs(find_repo_root(repo))


@app.command("list")
def list_(repo: Path = options.REPO, as_json: bool = options.JSON) -> None:
    """List recorded runs, newest first.

    \b
    Example:
      patchlore runs list
    """

    from patchlore.cli import ui

    rows = []
    bases = _runs(repo)
    for d in sorted((d for b in bases for d in b.glob("*/")), key=lambda d: d.name,
                    reverse=True):
        result = d / "result.json"
        try:
            data = json.loads(result.read_text()) if result.is_file() else {}
        except (ValueError, OSError):  # one damaged record does not hide the others
            data = {"status": "damaged", "message": "result.json cannot be read"}
        if not isinstance(data, dict):
            data = {"status": "damaged", "message": "result.json is not a run result"}
        rows.append({"id": d.name, "status": data.get("status", "incomplete"),
                     "message": data.get("message", ""), "seconds": data.get("seconds")})
    if as_json:
        ui.print_json(rows)
        return
    from rich.table import Table

    table = Table(title=f"runs in {' and '.join(map(str, bases)) or '(none recorded yet)'}",
                  title_justify="left")
    for col in ("id", "status", "time", "message"):
        table.add_column(col)
    for r in rows:
        secs = f"{r['seconds']:.1f} s" if r["seconds"] is not None else ""
        table.add_row(r["id"], r["status"], secs, r["message"])
    ui.out().print(table)


@app.command("show")
def show(run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
         repo: Path = options.REPO, as_json: bool = options.JSON) -> None:
    """Show what happened in a run, step by step.

    \b
    Example:
      patchlore runs show 20261122-101500
    """
    from patchlore.trajectory import read_events
    from patchlore.cli import ui
    from patchlore.errors import PatchloreError

    bases = _runs(repo)
    matches = sorted(d for b in bases for d in b.glob(f"{run_id}*"))
    if len(matches) != 1:
        raise PatchloreError(f"{len(matches) or 'no'} run(s) match {run_id!r} in "
                             f"{' or '.join(map(str, bases)) or 'no recorded runs'}",
                             hint="see `patchlore runs list`")
    record = matches[0] / "trajectory.jsonl"
    if not record.is_file():
        raise PatchloreError(f"run {matches[0].name}: no trajectory.jsonl in {matches[0]}",
                             hint="the run was stopped before it recorded anything")
    events = read_events(record, ui.warn)
    if as_json:
        ui.print_json(events)
        return
    from rich.table import Table

    table = Table(title=f"run {matches[0].name}", title_justify="left", show_lines=True)
    for col in ("t", "event", "what"):
        table.add_column(col, overflow="fold")
    for e in events:
        try:
            what = _summary(e)
        except (KeyError, TypeError, AttributeError):  # an event of another shape: show it raw
            what = ui.one_line(json.dumps(e), 160)
        table.add_row(f"{e.get('t', 0):.2f}" if isinstance(e.get("t"), (int, float)) else "",
                      str(e.get("kind", "")), what)
    ui.out().print(table)


def _summary(e: dict) -> str:
    kind = e["kind"]
    if kind == "run_start":
        return f"{e['repo']}: {e['test_cmd']} with {e['model']}"
    if kind == "test_run":
        run = e["run"]
        counts = ", ".join(f"{n} {s}" for s, n in sorted(run["counts"].items()))
        return f"{e['phase']}: {counts or 'exit ' + str(run['command']['exit_code'])}"
    if kind == "localize":
        return ", ".join(f"{p} ({why})" for p, why in e["files"])
    if kind == "prompt":
        return f"round {e['round']}: {len(e['messages'])} messages, n={e.get('n')}"
    if kind == "model_reply":
        return (f"round {e['round']}: {len(e['texts'])} answers, {e['prompt_tokens']} prompt "
                f"+ {e['completion_tokens']} completion tokens, {e['seconds']} s")
    if kind == "candidate":
        from patchlore.cli import ui

        state = ("VERIFIED" if e["verified"] else
                 f"{e.get('status', 'rejected')}: {ui.one_line(e['reason'], 160)}")
        return f"round {e['round']} (votes {e['votes']}, {e['lines_changed']} lines): {state}"
    if kind == "result":
        return f"{e['status']}: {e['message']}"
    if kind in _EXPLORING:  # one exploration's events, numbered by sample
        return f"#{e['sample'] + 1} " + _EXPLORING[kind](e)
    return ""


_EXPLORING = {
    "explore_step": lambda e: (f"$ {e['command'].splitlines()[0][:100]} ("
                               + ("killed" if e["exit_code"] is None else f"exit {e['exit_code']}")
                               + f", {e['seconds']} s)"),
    "explore_submit": lambda e: f"submit: {e['diff'].count(chr(10))} diff lines",
    "exploration": lambda e: (f"{e['status']} after {e['steps']} command(s), "
                              f"{e['mode'] or 'no'} replies: {e['message']}"),
    "explore_tools": lambda e: f"no bash tool, fenced blocks instead: {e['why'][:120]}",
}
