"""`patchlore eval`: grade SWE-bench-format predictions in the sandbox."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from patchlore.cli import options

app = typer.Typer(help="Evaluate on SWE-bench-format datasets.", no_args_is_help=True)


@app.command("grade")
def grade(
    dataset: Path = options.DATASET,
    split: str = options.SPLIT,
    predictions: str = typer.Option(..., "--predictions",
                                    help="Predictions file, or `gold` / `empty`."),
    repos_dir: Path = typer.Option(Path("repos"), "--repos-dir",
                                   help="Local mirrors of the repos, named owner__name; rows "
                                   "naming their repo by path (practice's) need none."),
    instances: list[str] = options.INSTANCES,
    pattern: str = options.FILTER,
    slice_: str = options.SLICE,
    output: Path = typer.Option(Path("patchlore-eval"), "--output", help="Report and logs."),
    image_template: str = options.IMAGE_TEMPLATE,
    workdir: str = options.setting("workdir"),
    setup: bool = options.setting("setup"),
    workers: int = typer.Option(1, "--workers", min=1, help="Instances graded at once."),
    command_timeout: float = options.setting("command_timeout", "eval grade"),
    rerun_flaky: int = typer.Option(0, "--rerun-flaky", min=0,
                                    help="Rerun failing tests K times."),
    test_cmd: str = options.setting("test_cmd"),
    runner: str = options.setting("runner"),
    harness: str = typer.Option(
        "auto", "--harness", help="auto: SWE-bench's own eval script and log parser (the "
        "swebench extra) for rows that carry them, else pytest with JUnit XML; or junit | "
        "swebench."),
    sandbox: str = options.setting("sandbox"),
    image: str = options.setting("image"),
    as_json: bool = options.JSON,
) -> None:
    """Apply each prediction and the test patch at the base commit, run the tests, and mark
    resolved exactly as SWE-bench does. `gold` validates a dataset: it must resolve every
    instance. Writes report.json (SWE-bench's fields) and logs/<instance>/. Grading into the
    same --output again keeps the grades made with the same patch, row and options, and
    grades the rest (errors included). Exit 0: all graded; 1: some could not be (errors).

    \b
    Examples:
      patchlore eval grade --dataset examples/minibench/minibench.jsonl --predictions gold \\
          --repos-dir /tmp/mirrors --workers 2
      patchlore eval grade --dataset d.jsonl --predictions preds.jsonl --repos-dir mirrors
    """
    from patchlore.cli import ui
    from patchlore.errors import EXIT_FAILED, PatchloreError
    from patchlore.evals.dataset import load_predictions, select
    from patchlore.evals.grade import RESOLVED, GradeOptions, grade_all
    from patchlore.evals.harness import HARNESSES

    options.one_of("--harness", harness, HARNESSES)
    settings = options.load_settings(Path.cwd())
    loaded = _load(dataset, split)
    preds = load_predictions(predictions, loaded)
    for n in preds.notes:
        ui.warn(n)
    chosen = select(loaded, instances, slice_, pattern)
    total = sum(i.instance_id in preds or i.instance_id in preds.invalid for i in chosen)
    if not total:
        raise PatchloreError(f"--predictions {predictions}: no prediction for any of the "
                             f"{len(chosen)} selected instance(s); nothing to grade",
                             hint="its rows' instance_id must be the dataset's")
    _prepare_output(output, settings)
    done = []
    opts = GradeOptions(workers, rerun_flaky, harness, image_template)
    with ui.tally(total, "grading") as line:
        def progress(g) -> None:
            done.append(g)
            line(f"[{len(done)}] {g.instance_id}: {g.status}"
                 + (f" ({g.reason})" if g.reason and g.status != RESOLVED else ""))

        report = grade_all(chosen, preds, repos_dir, settings, output, opts, progress,
                           preds.invalid, ui.info)
    if as_json:
        ui.print_json(report)
    else:
        n = report["submitted_instances"] or 1
        ui.out().print(f"resolved {report['resolved_instances']}/{report['submitted_instances']}"
                       f" ({100 * report['resolved_instances'] / n:.1f}%), "
                       f"errors {report['error_instances']}, empty "
                       f"{report['empty_patch_instances']}; report: {output / 'report.json'}")
    if report["error_instances"]:  # graded what it could; the rest needs a look, then a rerun
        raise typer.Exit(EXIT_FAILED)


@app.command("run")
def run(
    dataset: Path = options.DATASET,
    split: str = options.SPLIT,
    repos_dir: Path = typer.Option(Path("repos"), "--repos-dir",
                                   help="Mirrors of the repos, named owner__name (missing ones "
                                   "are cloned from $PATCHLORE_GIT_BASE_URL, default GitHub); "
                                   "rows naming their repo by path (practice's) need none."),
    instances: list[str] = options.INSTANCES,
    pattern: str = options.FILTER,
    slice_: str = options.SLICE,
    workers: int = typer.Option(1, "--workers", min=1, help="Instances at once."),
    model: str = options.setting("model"),
    api_base: str = options.setting("api_base"),
    samples: int = options.setting("samples"),
    rounds: int = options.setting("rounds"),
    agent: str = options.setting("agent"),
    max_steps: int = options.setting("max_steps"),
    localize: str = options.setting("localize"),
    memory_mode: str = options.setting("memory_mode"),
    memory_dir: Path = options.setting("memory_dir"),
    memory_url: str = options.setting("memory_url"),
    run_id: str = typer.Option(None, "--run-id", help="Resume this run (default: a new id)."),
    executor: str = typer.Option("threads", "--executor", help="threads, or ray for a cluster."),
    image_template: str = options.IMAGE_TEMPLATE,
    workdir: str = options.setting("workdir"),
    setup: bool = options.setting("setup"),
    ray_address: str = typer.Option("", "--ray-address",
                                     help="An existing Ray cluster (default: start one here)."),
    output: Path = typer.Option(Path("patchlore-eval"), "--output", help="Runs live here."),
    sandbox: str = options.setting("sandbox"),
    image: str = options.setting("image"),
    test_cmd: str = options.setting("test_cmd"),
) -> None:
    """Run the agent on every selected instance and write predictions.jsonl (SWE-bench's
    format) under OUTPUT/RUN_ID/. Rerunning the same --run-id skips finished instances and
    retries the ones that ended in an error (exit 1 while any did). With --memory-mode online, later instances use lessons from
    earlier ones (instances start in dataset order).

    \b
    Examples:
      patchlore eval run --dataset examples/minibench/minibench.jsonl --repos-dir /tmp/mirrors \\
          --model hosted_vllm/mistralai/Devstral-Small-2-24B-Instruct-2512 --api-base http://gpu:8000/v1
      patchlore eval run --dataset d.jsonl --repos-dir mirrors --run-id 20261122-a --workers 4
    """
    from patchlore.repair.loop import RepairOptions
    from patchlore.repair.session import open_memory
    from patchlore.trajectory import new_run_id
    from patchlore.cli import ui
    from patchlore.errors import EXIT_FAILED
    from patchlore.evals.dataset import select
    from patchlore.evals.run import DONE, run_all
    from patchlore.paths import safe_id

    options.one_of("--executor", executor, ("threads", "ray"))
    settings = options.load_settings(Path.cwd())
    chosen = select(_load(dataset, split), instances, slice_, pattern)
    store = open_memory(settings, ui.warn)
    opts = RepairOptions.of(settings, "", workers=1)  # no deadline: a batch has many runs
    run_id = safe_id(run_id, "--run-id") if run_id else new_run_id()
    out_dir = output / run_id
    _prepare_output(out_dir, settings)
    ui.info(f"run {run_id}: {len(chosen)} instance(s) -> {out_dir}")
    count = []
    with ui.tally(len(chosen), f"run {run_id}") as line:
        def progress(rec: dict) -> None:
            count.append(rec)
            state = rec.get("outcome") or f"error: {rec.get('reason', '')}"
            line(f"[{len(count)}] {rec['instance_id']}: {state} ({rec['seconds']} s)")

        runner = run_all(chosen, repos_dir, settings, opts, out_dir, workers, progress,
                         executor, ray_address, image_template, store)
    done = sum(runner.results.get(i.instance_id, {}).get("status") == DONE for i in chosen)
    ui.out().print(f"{done}/{len(chosen)} instance(s) finished; predictions: "
                   f"{out_dir / 'predictions.jsonl'}")
    if done < len(chosen):
        ui.info(f"rerun with --run-id {run_id} to retry the {len(chosen) - done} that failed")
        raise typer.Exit(EXIT_FAILED)


def _load(dataset: Path, split: str) -> list:
    """The dataset's valid instances (each skipped row said); an error if there are none."""
    from patchlore.cli import ui
    from patchlore.errors import PatchloreError
    from patchlore.evals.dataset import REQUIRED, load_dataset

    loaded, problems = load_dataset(dataset, split)
    for p in problems:
        ui.warn(f"skipped: {p}")
    if not loaded:
        raise PatchloreError(f"--dataset {dataset}: no valid instance" + (
            f" ({len(problems)} row(s) skipped, see above)" if problems else " (it is empty)"),
            hint="each row needs " + ", ".join(REQUIRED))
    return loaded


def _prepare_output(out_dir: Path, settings) -> None:
    """The output directory, made before any instance runs (so a path that cannot be written
    is said at once), and what runs killed with -9 left behind, removed."""
    from patchlore.cli import ui
    from patchlore.errors import PatchloreError
    from patchlore.evals.batch import sweep

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".patchlore-write-check-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise PatchloreError(f"--output {out_dir}: cannot be written ({exc.strerror})",
                             hint="pass --output a directory you can write to") from None
    removed = sweep(settings, ui.warn)
    if removed:
        ui.info(f"removed {len(removed)} leftover(s) of runs that were killed: "
                + ", ".join(removed[:5]) + (" ..." if len(removed) > 5 else ""))


@app.command("report")
def report(
    runs: list[Path] = typer.Argument(..., help="Run directories written by `eval run`."),
    fmt: str = typer.Option("table", "--format", help="table, markdown or json."),
    plot: Path = typer.Option(None, "--plot", help="Write the learning curves to this PNG (a "
                              "folder: learning-curve.png in it)."),
) -> None:
    """Compare runs: resolved %, cost, tokens and time per instance, and the learning curve
    (resolved rate over instances seen). Resolution comes from RUN/grade/report.json: grade
    with `patchlore eval grade --predictions RUN/predictions.jsonl --output RUN/grade`.

    \b
    Example:
      patchlore eval report runs/memory-off runs/memory-online --plot curve.png
    """
    from patchlore.cli import ui
    from patchlore.evals.report import markdown, resolved_text, summarize
    from patchlore.evals.report import plot as draw

    from patchlore.errors import PatchloreError

    options.one_of("--format", fmt, ("table", "markdown", "json"))
    if plot and plot.is_dir():
        plot = plot / "learning-curve.png"
    if plot and not plot.parent.is_dir():  # said before any work, as for --output
        raise PatchloreError(f"--plot {plot}: cannot be written (no folder {plot.parent})",
                             hint="make the folder first, or pass a path in an existing one")
    rows = [summarize(r) for r in runs]
    if plot:
        draw(rows, plot)
        ui.info(f"learning curves: {plot}")
    if fmt == "json":
        ui.print_json(rows)
    elif fmt == "markdown":
        print(markdown(rows))
    else:
        from rich.table import Table

        table = Table(title="patchlore eval report", title_justify="left")
        for col in ("run", "instances", "resolved", "cost", "tokens/inst.", "s/inst."):
            table.add_column(col)
        for r in rows:
            table.add_row(r["run"], str(r["instances"]), resolved_text(r), f"${r['cost']:.4f}",
                          str(r["tokens_per_instance"]), str(r["seconds_per_instance"]))
        ui.out().print(table)
