"""`patchlore --help` cold start: median of N runs, beside a bare `python -c pass`.

Run: .venv/bin/python benchmarks/cli_startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time


def median_seconds(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    exe = shutil.which("patchlore") or f"{sys.prefix}/bin/patchlore"
    python = median_seconds([sys.executable, "-c", "pass"], args.runs)
    help_ = median_seconds([exe, "--help"], args.runs)
    sub = median_seconds([exe, "sandbox", "--help"], args.runs)
    result = {"runs": args.runs, "python_c_pass_s": round(python, 3),
              "patchlore_help_s": round(help_, 3), "patchlore_sandbox_help_s": round(sub, 3),
              "target_s": 0.25, "meets_target": help_ < 0.25}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
