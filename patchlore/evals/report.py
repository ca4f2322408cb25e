"""Reports over eval runs: resolved rate, cost, tokens, time per instance, and the learning
curve (resolved rate over instances seen), side by side for several runs (memory off vs on)."""

from __future__ import annotations

import json
from pathlib import Path

from patchlore.errors import PatchloreError
from patchlore.evals.run import DONE, ERROR, read_results


def summarize(run_dir: Path) -> dict:
    results_path = run_dir / "results.jsonl"
    if not results_path.is_file():
        raise PatchloreError(f"{run_dir}: not an eval run (no results.jsonl)",
                             hint="pass the directory `patchlore eval run` wrote")
    results = list(read_results(results_path).values())
    grade_path = run_dir / "grade" / "report.json"
    resolved_ids = None
    if grade_path.is_file():
        resolved_ids = set(json.loads(grade_path.read_text())["resolved_ids"])
    order = [r["instance_id"] for r in results]
    resolved = [(iid in resolved_ids) if resolved_ids is not None else None for iid in order]
    n = len(results) or 1
    curve = []
    if resolved_ids is not None:
        hits = 0
        for k, ok in enumerate(resolved, 1):
            hits += ok
            curve.append(round(hits / k, 4))
    return {
        "run": run_dir.name, "instances": len(results),
        "finished": sum(r.get("status") == DONE for r in results),
        "errors": sum(r.get("status") == ERROR for r in results),
        "resolved": None if resolved_ids is None else sum(resolved),
        "resolved_pct": None if resolved_ids is None else round(100 * sum(resolved) / n, 1),
        "cost": round(sum(r.get("cost", 0.0) for r in results), 4),
        "tokens_per_instance": round(sum(r.get("prompt_tokens", 0) +
                                         r.get("completion_tokens", 0) for r in results) / n),
        "seconds_per_instance": round(sum(r.get("seconds", 0.0) for r in results) / n, 2),
        "learning_curve": curve,
    }


def resolved_text(row: dict) -> str:
    if row["resolved"] is None:
        return "n/a (not graded)"
    return f"{row['resolved']} ({row['resolved_pct']}%)"


def markdown(rows: list[dict]) -> str:
    head = "| run | instances | resolved | cost | tokens/instance | s/instance |\n" \
           "| --- | --- | --- | --- | --- | --- |"
    body = [f"| {r['run']} | {r['instances']} | {resolved_text(r)} | ${r['cost']:.4f} | "
            f"{r['tokens_per_instance']} | {r['seconds_per_instance']} |" for r in rows]
    return "\n".join([head, *body])


def plot(rows: list[dict], dest: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for r in rows:
        if r["learning_curve"]:
            xs = range(1, len(r["learning_curve"]) + 1)
            ax.plot(xs, [100 * y for y in r["learning_curve"]], marker="o", markersize=3,
                    label=r["run"])
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("instances seen")
    ax.set_ylabel("resolved so far (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Learning curve")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(dest)
    plt.close(fig)
