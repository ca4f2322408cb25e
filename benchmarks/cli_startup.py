"""`patchlore --help` cold start: median of N runs, beside a bare `python -c pass`. Two help
figures: the text kept from an earlier request (what every `--help` but the first after a change
to the code costs), and the first request, typer drawing the help (a new cache dir each run).

Run: .venv/bin/python benchmarks/cli_startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import os
import subprocess
import sys
import tempfile
import time


def median_seconds(argv: list[str], runs: int, cpu: list[float] | None = None,
                   fresh_cache: bool = False) -> float:
    """Median wall seconds; `cpu` gets the median CPU seconds (user + system) of the child,
    which other sessions' load on the machine changes less. `fresh_cache`: an empty help cache
    for each run."""
    times, used = [], []
    for _ in range(runs):
        env = dict(os.environ)
        if fresh_cache:
            env["PATCHLORE_CACHE_DIR"] = tempfile.mkdtemp(prefix="cli-startup-")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                       env=env)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if cpu is not None:
        cpu.append(statistics.median(used))
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    exe = shutil.which("patchlore") or f"{sys.prefix}/bin/patchlore"
    cpu: list[float] = []
    python = median_seconds([sys.executable, "-c", "pass"], args.runs, cpu)
    subprocess.run([exe, "--help"], stdout=subprocess.DEVNULL, check=True)  # keep its text
    help_ = median_seconds([exe, "--help"], args.runs, cpu)
    first = median_seconds([exe, "--help"], args.runs, cpu, fresh_cache=True)
    subprocess.run([exe, "sandbox", "--help"], stdout=subprocess.DEVNULL, check=True)
    sub = median_seconds([exe, "sandbox", "--help"], args.runs)
    result = {"runs": args.runs, "python_c_pass_s": round(python, 3),
              "patchlore_help_s": round(help_, 3), "python_c_pass_cpu_s": round(cpu[0], 3),
              "patchlore_help_cpu_s": round(cpu[1], 3), "patchlore_sandbox_help_s": round(sub, 3),
              "first_help_s": round(first, 3), "first_help_cpu_s": round(cpu[2], 3),
              "target_s": 0.1, "meets_target": help_ <= 0.1}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
