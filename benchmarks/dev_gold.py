"""Gold patches on a real-repo development set (SWE-bench Lite's dev split) in environments
derived by patchlore: the resolve rate (gold, and empty which must resolve none), the time to
build each instance's environment the first time and to find it again, and the share of the
build spent in uv (as uv reports its own resolve, prepare and install phases).

Needs the repos' mirrors (owner__name) and this machine's package index; builds take minutes
the first time. --fresh removes the instances' environment images first, so the build time is a
first build.

Run: DOCKER_HOST=... .venv/bin/python benchmarks/dev_gold.py \
       --dataset ../shared/data/swe-bench-lite-dev.jsonl --repos-dir /work/repos --fresh
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from patchlore.config import Settings
from patchlore.errors import PatchloreError
from patchlore.evals.dataset import load_dataset, load_predictions
from patchlore.evals.environment import environment
from patchlore.evals.grade import GradeOptions, grade_all
from patchlore.evals.repos import checkout
from patchlore.sandbox.env.envsetup import cache_dir, image_with_requirements, plan
from patchlore.sandbox.env.pyversion import base_image
from patchlore.sandbox.snapshot import take_snapshot

UV_PHASE = re.compile(r"^(?:Resolved|Prepared|Installed|Uninstalled|Audited) \d+ packages? "
                      r"in ([\d.]+)(ms|s)$", re.MULTILINE)


def uv_seconds(log: str) -> float:
    return sum(float(n) / (1000 if unit == "ms" else 1) for n, unit in UV_PHASE.findall(log))


def environment_times(inst, repos: Path, settings: Settings, fresh: bool) -> dict:
    """Build the instance's environment (timed), then find it again (timed, median of 3)."""
    from patchlore.sandbox.docker_backend import docker_client

    client = docker_client()
    settings = environment(inst, settings)
    with tempfile.TemporaryDirectory() as tmp:
        work = checkout(inst, repos, Path(tmp))
        snap = take_snapshot(work)
        try:
            base, bounds, choice = base_image(client, settings, snap, str(work))
            tag = plan(client, base, snap, settings.setup_cmd, inst.repo, bounds).tag
            if fresh and tag != base:
                try:
                    client.images.remove(tag, force=True)
                except Exception:
                    pass  # not built yet
            start = time.perf_counter()
            image_with_requirements(client, base, snap, settings.setup_cmd, inst.repo,
                                    timeout=settings.timeout, bounds=bounds)
            build = time.perf_counter() - start
            finds = []
            for _ in range(3):
                start = time.perf_counter()
                image_with_requirements(client, base, snap, settings.setup_cmd, inst.repo,
                                        bounds=bounds)
                finds.append(time.perf_counter() - start)
        except PatchloreError as exc:
            return {"instance": inst.instance_id, "error": exc.message}
    log = cache_dir() / f"{tag.rsplit('-', 1)[1]}.log"
    uv = uv_seconds(log.read_text()) if log.is_file() else 0.0
    return {"instance": inst.instance_id, "python": choice.python,
            "deps_date": str(bounds.date), "image": tag, "build_s": round(build, 1),
            "find_ms": round(1000 * statistics.median(finds), 1), "uv_s": round(uv, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="../shared/data/swe-bench-lite-dev.jsonl")
    ap.add_argument("--repos-dir", default="/work/repos")
    ap.add_argument("--output", default="patchlore-dev-gold")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--fresh", action="store_true")
    args = ap.parse_args()
    repos, out = Path(args.repos_dir), Path(args.output)
    instances, _ = load_dataset(Path(args.dataset))
    usable = [i for i in instances if (repos / i.repo.replace("/", "__")).is_dir()]
    settings = Settings(timeout=args.timeout)
    start = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        envs = list(pool.map(lambda i: environment_times(i, repos, settings, args.fresh),
                             usable))
    env_s = time.perf_counter() - start
    gold = grade_all(usable, load_predictions("gold", usable), repos, settings, out / "gold",
                     GradeOptions(workers=args.workers))
    empty = grade_all(usable, load_predictions("empty", usable), repos, settings, out / "empty")
    built = [e for e in envs if "build_s" in e and e["image"]]
    summary = {
        "instances": len(instances), "with_mirror": len(usable),
        "gold_resolved": gold["resolved_instances"], "gold_errors": gold["error_ids"],
        "gold_unresolved": gold["unresolved_ids"], "empty_resolved": empty["resolved_instances"],
        "env_wall_s": round(env_s, 1), "grade_wall_s": round(time.perf_counter() - start - env_s, 1),
        "build_s_median": statistics.median(e["build_s"] for e in built) if built else None,
        "build_s_max": max((e["build_s"] for e in built), default=None),
        "find_ms_median": statistics.median(e["find_ms"] for e in built) if built else None,
        "uv_share": round(sum(e["uv_s"] for e in built) / max(sum(e["build_s"] for e in built),
                                                              1e-9), 2),
        "environments": envs,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "dev_gold.json").write_text(json.dumps(summary, indent=2))
    for e in envs:
        print(json.dumps(e), file=sys.stderr)
    print(json.dumps({k: v for k, v in summary.items() if k != "environments"}, indent=2))


if __name__ == "__main__":
    main()
