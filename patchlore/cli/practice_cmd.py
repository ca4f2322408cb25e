"""`patchlore practice`: mutants of the repo's functions that its tests catch, as verified
memory episodes and a SWE-bench-format benchmark of the repo."""

from __future__ import annotations

from pathlib import Path

import typer

from patchlore.cli import options


def practice(
    repo: Path = options.REPO,
    test_cmd: str = typer.Option(None, "--test-cmd", help="Test command (default: setting); "
                                 "it must pass in the sandbox."),
    max_mutants: int = typer.Option(20, "--max-mutants", min=1, max=10_000,
                                    help="Mutants to try at most (one per function first)."),
    deadline: float = options.setting("deadline", "practice"),
    mutant_timeout: float = typer.Option(None, "--mutant-timeout", callback=options.positive,
                                         help="Seconds per mutant's test run (default: 3x the "
                                         "suite's, at least 10): a mutant that hangs is "
                                         "dropped then."),
    model: str = typer.Option(None, "--model", help="Repair each kept mutant blind with this "
                              "model first; its own verified repair is stored instead."),
    api_base: str = typer.Option(None, "--api-base", help="Model endpoint, e.g. a vLLM server."),
    seed: int = typer.Option(0, "--seed", help="Which mutants are chosen (reproducible)."),
    memory_dir: Path = options.setting("memory_dir"),
    memory_url: str = options.setting("memory_url"),
    sandbox: str = options.setting("sandbox"),
    image: str = options.setting("image"),
    setup: bool = options.setting("setup"),
    as_json: bool = typer.Option(False, "--json", help='Print {"tried", "caught", "kept", '
                                 '"stored", "instances", "uncaught": [{"path", "function"}]}.'),
) -> None:
    """Mutate the repo's functions in the sandbox; keep the mutants its tests catch.

    Each kept mutant (the rest of the suite still runs, and its inverse verifies as a fix) is
    stored as a verified memory episode (source practice) and written as a SWE-bench-format
    instance to .patchlore/practice/instances.jsonl, which `eval run` and `eval grade` take
    as they are (no --repos-dir; on a read-only checkout, under the state dir instead). The
    working tree is never touched. A rerun skips functions already practised at the same
    content. Exit 0: done; 2: usage or environment error (a
    suite that does not pass).

    \b
    Examples:
      patchlore practice --test-cmd "python3 -m pytest -q tests" --max-mutants 30
      patchlore practice --budget 600 --json
      patchlore practice --model hosted_vllm/Qwen3-Coder --api-base http://gpu:8000/v1
    """
    from patchlore.cli import ui
    from patchlore.evals.practice.run import PracticeOptions, blind_repair
    from patchlore.evals.practice.run import practice as run_practice
    from patchlore.memory.embed import make_embedder
    from patchlore.memory.store import MemoryStore
    from patchlore.repair.session import records_dir
    from patchlore.sandbox.snapshot import find_repo_root

    root = find_repo_root(repo)
    settings = options.load_settings(root)
    store = MemoryStore(settings.memory_dir, url=settings.memory_url, warn=ui.warn,
                        embedder=make_embedder(settings.embedder))
    opts = PracticeOptions(test_cmd=settings.test_cmd, max_mutants=max_mutants,
                           budget=settings.deadline, mutant_timeout=mutant_timeout, seed=seed)
    blind = (blind_repair(settings, store, root.name, settings.test_cmd,
                          records_dir(root) / "runs") if model else None)
    with ui.progress("practice: starting the sandbox") as say:
        def progress(step: str, r) -> None:
            say(f"practice: {r.tried} tried, {r.caught} caught, {r.kept} kept, {r.stored} "
                f"stored; {step}")

        report = run_practice(root, settings, opts, memory=store, progress=progress,
                              blind=blind, warn=ui.warn)
    if not report.traced:
        ui.warn("the trace of the suite saw no call into the repo's files (an installed copy "
                "runs, or python -I): every function was mutated, covered or not")
    if report.unsteady:
        ui.warn(f"{report.unsteady} test(s) set aside: two runs of the unchanged code named or "
                "judged them differently (an id made of the time or a random value, a flaky "
                "test); mutants are judged on the others")
    if report.untried:
        ui.warn(f"stopped at --budget ({settings.deadline:g} s): {report.untried} mutant(s) "
                "chosen were not tried; a rerun goes on with the functions not practised yet")
    if as_json:
        ui.print_json(report.to_json())
        return
    _show(report)


def _show(report) -> None:
    from rich.table import Table

    from patchlore.cli import ui

    table = Table(title="patchlore practice", title_justify="left", show_header=False)
    for k, v in (("mutants tried", report.tried), ("caught by tests", report.caught),
                 ("kept", report.kept), ("stored in memory", report.stored),
                 ("functions skipped (practised at this content)", report.skipped),
                 ("dropped (hung, broke the suite, inverse did not verify)",
                  len(report.dropped)),
                 ("seconds", f"{report.seconds:.1f}"), ("instances", report.instances)):
        table.add_row(k, str(v))
    ui.out().print(table)
    for title, rows in (("functions no test protects", report.uncaught),
                        ("mutants dropped", report.dropped)):
        if rows:
            table = Table(title=title, title_justify="left")
            for column in ("path", "function", "why"):
                table.add_column(column, overflow="fold")
            for u in rows:
                table.add_row(u["path"], u["function"], u["why"])
            ui.out().print(table)
