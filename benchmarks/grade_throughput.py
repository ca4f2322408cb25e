"""Grading throughput on the minibench (gold predictions) with 1, 2 and 4 workers.

Run: DOCKER_HOST=... .venv/bin/python benchmarks/grade_throughput.py [--sandbox docker]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from patchlore.config import Settings
from patchlore.evals.dataset import load_dataset, load_predictions
from patchlore.evals.grade import GradeOptions, grade_all

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sandbox", default="docker")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = ap.parse_args()
    instances, _ = load_dataset(ROOT / "examples" / "minibench" / "minibench.jsonl")
    gold = load_predictions("gold", instances)
    with tempfile.TemporaryDirectory() as tmp:
        mirrors = Path(tmp) / "mirrors"
        subprocess.run([sys.executable, str(ROOT / "examples" / "minibench" / "build.py"),
                        "--mirrors", str(mirrors)], check=True, capture_output=True)
        for workers in args.workers:
            start = time.perf_counter()
            report = grade_all(instances, gold, mirrors, Settings(sandbox=args.sandbox),
                               Path(tmp) / f"w{workers}", GradeOptions(workers=workers))
            secs = time.perf_counter() - start
            assert report["resolved_instances"] == len(instances)
            print(json.dumps({"sandbox": args.sandbox, "workers": workers,
                              "instances": len(instances), "seconds": round(secs, 1),
                              "per_minute": round(60 * len(instances) / secs, 1)}), flush=True)


if __name__ == "__main__":
    main()
