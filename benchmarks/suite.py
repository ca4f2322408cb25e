"""`benchmarks/run`: the performance figures in one table, each beside its anchor measured in the
same run (the machine is shared and noisy: a ratio to an anchor measured now means more than a
figure alone). Each row runs one of the benchmark scripts beside this file and reads its JSON.

Run: benchmarks/run [--quick] [--skip docker]   (nice'd; Docker rows need DOCKER_HOST)
--quick: small stores (1k records) and few repetitions, about a minute of a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def script(name: str, *args: str) -> list[dict]:
    """The JSON objects a benchmark script printed (one per line, or one indented)."""
    out = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *args], cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{name} failed: {out.stderr[-1500:]}")
    text = out.stdout.strip()
    try:
        return [json.loads(text)]
    except ValueError:
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def rows_help(quick: bool) -> list[tuple]:
    r = script("cli_startup", "--runs", "3" if quick else "10")[0]
    anchor = (f"`python -c pass` {r['python_c_pass_s']:.3f} s (CPU "
              f"{r['python_c_pass_cpu_s']:.3f} s)")
    return [("`patchlore --help`, new process, median",
             f"{r['patchlore_help_s']:.3f} s (CPU {r['patchlore_help_cpu_s']:.3f} s)", anchor,
             "≤ 0.1 s"),
            ("`patchlore --help`, first after a change to the code (typer draws it)",
             f"{r['first_help_s']:.3f} s (CPU {r['first_help_cpu_s']:.3f} s)", anchor, "")]


def rows_store_open(quick: bool, data: Path) -> list[tuple]:
    sizes = ["1000"] if quick else ["1000", "100000"]
    out = []
    for r in script("store_open", "--sizes", *sizes, "--dir", str(data)):
        n = f"{r['records']:,}"
        out.append((f"store open, {n} records (snapshot)",
                    f"{r['snapshot_open_s']:.3f} s (CPU {r['snapshot_open_cpu_s']:.3f} s)",
                    f"full replay {r['full_replay_s']:.2f} s (CPU {r['full_replay_cpu_s']:.2f})",
                    "≤ 0.2 s at 100k"))
        out.append((f"store open, {n} + a 1,000-record tail",
                    f"{r['snapshot_plus_1000_tail_s']:.3f} s", "", ""))
    return out


def rows_recall(quick: bool, data: Path) -> list[tuple]:
    sizes = ["1000"] if quick else ["1000", "10000", "50000", "100000"]
    args = ["--sizes", *sizes, "--dir", str(data), "--queries", "50" if quick else "200",
            "--search-runs", "2" if quick else "5"]
    got = script("memory_twins", *args)
    r = got[0]
    out = [(f"ingestion, {r['ingest_sample']:,} episodes into a new store",
            f"{r['ingest_new_store_per_s']:,} /s",
            f"chromadb alone {r['chroma_ingest_per_s']:,} /s", "")]
    for r in got:
        n = f"{r['episodes']:,}"
        out.append((f"recall p50 / p95, {n} episodes", f"{r['p50_ms']} / {r['p95_ms']} ms",
                    f"chromadb alone {r['chroma_p50_ms']} / {r['chroma_p95_ms']} ms",
                    "p50 ≤ 20, p95 ≤ 50 ms (at 1M)"))
        out.append((f"twin recall among {n} look-alikes", f"{r['twin_recall']:.3f}", "",
                    "≥ 0.97 at 50k"))
        out.append((f"hard twin recall among {n} look-alikes (reworded reports)",
                    f"{r['hard_twin_recall']:.3f}", "", "not to drop as the store grows"))
        out.append((f"`memory search`, new process, {n} episodes",
                    f"{r['search_cli_s']:.2f} s (CPU {r['search_cli_cpu_s']:.2f} s)",
                    f"{r['search_vs_smallest']}x the smallest store (CPU "
                    f"{r['search_cpu_vs_smallest']}x)", "≤ 1.5x at 100k"))
    return out


def rows_verify(quick: bool) -> list[tuple]:
    r = script("verify_overhead", "--runs", "3" if quick else "10")[0]
    return [("verify one candidate (reused container)", f"{r['reused_container_s']:.2f} s",
             f"bare test run {r['bare_test_run_s']:.2f} s", "≤ +0.3 s")]


def rows_fix(quick: bool) -> list[tuple]:
    r = script("fix_wall", "--runs", "2" if quick else "5")[0]["this"]
    return [("cold `fix`, instant model, beyond its test runs",
             f"{r['overhead_s_median']:.2f} s (wall {r['wall_s_median']:.2f} s)",
             f"its test runs {r['test_s_median']:.2f} s", "≤ 2 s")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small stores, few repetitions")
    ap.add_argument("--skip", nargs="*", default=[], choices=["docker", "memory", "cli"])
    ap.add_argument("--data", type=Path, default=None,
                    help="where the benchmark stores are built once (default: a temp dir; "
                         "the 100k stores take minutes to build)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or Path(tmp)
        sections = []
        if "cli" not in args.skip:
            sections.append(lambda: rows_help(args.quick))
        if "memory" not in args.skip:
            sections += [lambda: rows_store_open(args.quick, data),
                         lambda: rows_recall(args.quick, data)]
        if "docker" not in args.skip and os.environ.get("DOCKER_HOST"):
            sections += [lambda: rows_verify(args.quick), lambda: rows_fix(args.quick)]
        start = time.perf_counter()
        rows = []
        for section in sections:
            try:
                rows += section()
            except RuntimeError as exc:
                rows.append(("(a benchmark failed)", str(exc).splitlines()[0], "", ""))
    print(f"| what | figure | anchor, same run | goal |\n| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n{'quick' if args.quick else 'full'} run, {time.perf_counter() - start:.0f} s, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
