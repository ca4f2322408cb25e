"""`patchlore eval`: grade SWE-bench-format predictions in the sandbox."""

from __future__ import annotations

from pathlib import Path

import typer

from patchlore.cli import options

app = typer.Typer(help="Evaluate on SWE-bench-format datasets.", no_args_is_help=True)


@app.command("grade")
def grade(
    dataset: Path = typer.Option(..., "--dataset", help=".json, .jsonl or .parquet instances."),
    predictions: str = typer.Option(..., "--predictions",
                                    help="Predictions file, or `gold` / `empty`."),
    repos_dir: Path = typer.Option(..., "--repos-dir",
                                   help="Local mirrors of the repos, named owner__name."),
    output: Path = typer.Option(Path("patchlore-eval"), "--output", help="Report and logs."),
    workers: int = typer.Option(1, "--workers", min=1, help="Instances graded at once."),
    timeout: float = typer.Option(600, "--timeout", help="Seconds for one instance's tests."),
    rerun_flaky: int = typer.Option(0, "--rerun-flaky", help="Rerun failing tests K times."),
    test_cmd: str = typer.Option(None, "--test-cmd", help="Default: the test_cmd setting."),
    sandbox: str = options.SANDBOX,
    image: str = options.IMAGE,
    as_json: bool = options.JSON,
) -> None:
    """Apply each prediction and the test patch at the base commit, run the tests, and mark
    resolved exactly as SWE-bench does. `gold` validates a dataset: it must resolve every
    instance. Writes report.json (SWE-bench's fields) and logs/<instance>/.

    \b
    Examples:
      patchlore eval grade --dataset examples/minibench/minibench.jsonl --predictions gold \\
          --repos-dir /tmp/mirrors --workers 2
      patchlore eval grade --dataset d.jsonl --predictions preds.jsonl --repos-dir mirrors
    """
    from patchlore.cli import ui
    from patchlore.config import load_settings
    from patchlore.evals.dataset import load_dataset, load_predictions
    from patchlore.evals.grade import grade_all

    settings = load_settings(Path.cwd(), {"sandbox": sandbox, "image": image,
                                          "timeout": timeout, "test_cmd": test_cmd})
    instances, problems = load_dataset(dataset)
    for p in problems:
        ui.warn(f"skipped: {p}")
    preds = load_predictions(predictions, instances)
    done = []

    def progress(g) -> None:
        done.append(g)
        ui.info(f"[{len(done)}/{len(preds)}] {g.instance_id}: {g.status}"
                + (f" ({g.reason})" if g.reason and g.status != "resolved" else ""))

    report = grade_all(instances, preds, repos_dir, settings, output, workers, rerun_flaky,
                       progress)
    if as_json:
        ui.print_json(report)
    else:
        n = report["submitted_instances"] or 1
        ui.out().print(f"resolved {report['resolved_instances']}/{report['submitted_instances']}"
                       f" ({100 * report['resolved_instances'] / n:.1f}%), "
                       f"errors {report['error_instances']}, empty "
                       f"{report['empty_patch_instances']}; report: {output / 'report.json'}")
