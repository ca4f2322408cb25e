"""Localization on real issues: does the code the real fix changes reach the prompt?

For each instance of a SWE-bench-style dataset, the repo is checked out at its base commit
(under --work, from the mirrors in --repos) and `patchlore localize`'s own function is run:
  file hit  the share of the gold patch's files that appear in a shown snippet
  hunk hit  the share of its hunks whose first changed line lies inside a shown snippet
            (an outline of a large file shows only def lines: it counts for files, not hunks)
  context   characters shown, against the budget (tokens x 4)
  seconds   per issue, index built cold (first call for that repo state) and cached
Modes: `issue` (the problem statement alone, as `eval run` starts); `test` (the test patch
applied and FAIL_TO_PASS passed as the failing tests, as after the loop's first test run,
without their tracebacks); `trace` (as `test`, plus the output of those tests run on the host
by --python, a venv with pytest and light requirements: real tracebacks where the repo
imports, an import error where it does not; `traceback_names_gold` says whether the output
named a gold file).

With --index-repo PATH, instead: the index of that repo built cold (empty cache), loaded
from the disk cache by a new process's first call, found again within the process, and
built for a new state of the repo (the files' chunks cached).

Run: .venv/bin/python benchmarks/localize_real.py [--data F] [--repos DIR] [--budget 6000]
     [--modes issue test trace] [--python VENV/bin/python] [--only SUBSTRING] [--out F]
     .venv/bin/python benchmarks/localize_real.py --index-repo /tmp/sympy   # a 2,087-file repo
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from unidiff import PatchSet

from patchlore.localize.localize import localize_repo
from patchlore.evals.dataset import Instance, load_dataset
from patchlore.evals.repos import checkout


def gold(patch: str) -> tuple[set[str], list[tuple[str, int]]]:
    """The files a patch changes and the first changed line of each hunk (for an insertion,
    the line above it), in the old file's numbering."""
    files, hunks = set(), []
    for pf in PatchSet(patch):
        path = pf.source_file.removeprefix("a/")
        files.add(path)
        for hunk in pf:
            above = hunk.source_start - 1
            for line in hunk:
                if line.is_removed:
                    hunks.append((path, line.source_line_no))
                    break
                if line.is_added:
                    hunks.append((path, max(above, 1)))
                    break
                above = line.source_line_no
    return files, hunks


def _git(work: Path, *args: str, stdin: str | None = None) -> None:
    subprocess.run(["git", "-C", str(work), *args], input=stdin, text=True, check=True,
                   capture_output=True)


def failing_output(inst: Instance, work: Path, python: str) -> str:
    """The FAIL_TO_PASS tests run on the host by `python` (a venv with pytest and the repos'
    light requirements): their short tracebacks where the repo imports, else the error."""
    src = work / "src" if (work / "src").is_dir() else work
    done = subprocess.run([python, "-m", "pytest", "-q", "--tb=short", "-p",
                           "no:cacheprovider", *inst.FAIL_TO_PASS], cwd=work,
                          env={**os.environ, "PYTHONPATH": str(src)}, capture_output=True,
                          text=True, timeout=300)
    return (done.stdout + done.stderr)[-8000:]


def measure(inst: Instance, work: Path, mode: str, budget: int, localizer=localize_repo,
            python: str = sys.executable) -> dict:
    tests, traceback = [], ""
    if mode in ("test", "trace"):
        _git(work, "apply", "-", stdin=inst.test_patch)
        tests = inst.FAIL_TO_PASS
    try:
        if mode == "trace":
            traceback = failing_output(inst, work, python)
        kwargs = dict(task=inst.problem_statement, failing_tests=tests, budget_tokens=budget)
        if traceback:
            kwargs["traceback"] = traceback
        t = time.perf_counter()
        shown = localizer(work, **kwargs)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        localizer(work, **kwargs)
        warm = time.perf_counter() - t
    finally:
        if tests:
            _git(work, "apply", "-R", "-", stdin=inst.test_patch)
    files, hunks = gold(inst.patch)
    ranges = [(s.path, s.start_line, s.end_line) for s in shown if s.kind != "outline"]
    paths = {s.path for s in shown}
    hit = [any(p == path and a <= line <= b for p, a, b in ranges) for path, line in hunks]
    return {"instance": inst.instance_id, "mode": mode,
            "file_hit": sum(f in paths for f in files) / len(files),
            "hunk_hit": sum(hit) / len(hit) if hit else 0.0,
            "chars": sum(len(s.text) for s in shown), "snippets": len(shown),
            "cold_s": round(cold, 3), "warm_s": round(warm, 3),
            "gold": sorted(files), "shown": sorted(paths),
            "traceback_names_gold": any(f in traceback for f in files)}


def index_timing(repo: Path, task: str = "simplify returns a wrong result for a Piecewise") -> None:
    from patchlore.localize import index as ix
    from patchlore.sandbox.snapshot import take_snapshot

    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="patchlore-index-bench-")
    files = take_snapshot(repo).files
    t = time.perf_counter()
    built = ix.load_or_build(repo, files)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    held = ix.load_or_build(repo, files)  # as a new process (or a new repair) finds it: on disk
    disk = time.perf_counter() - t
    t = time.perf_counter()
    localize_repo(repo, files, task=task, index=held)  # as a repair's later localizations
    whole = time.perf_counter() - t
    # another state of the same repo (an edit, another commit): files' chunks are cached
    t = time.perf_counter()
    ix.build(repo, files, "another-state", ix.state(repo, files)[1])
    again = time.perf_counter() - t
    print(f"{repo}: {len(files)} files, {len(built.sizes)} indexed, {len(built.chunks)} chunks: "
          f"build {cold:.2f} s, cached on disk {disk:.2f} s; "
          f"a whole localize with the index held {whole:.2f} s; a new state of the "
          f"repo (chunks cached) {again:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data/swe-bench-lite-dev.jsonl"))
    ap.add_argument("--repos", type=Path, default=Path("/work/repos"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/patchlore-localize-bench"))
    ap.add_argument("--budget", type=int, default=6000)
    ap.add_argument("--modes", nargs="+", default=["issue", "test"],
                    choices=["issue", "test", "trace"])
    ap.add_argument("--only", default="", help="instances whose id contains this")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--python", default=sys.executable,
                    help="the interpreter that runs the failing tests in the trace mode")
    ap.add_argument("--index-repo", type=Path, help="time the index of this repo instead")
    args = ap.parse_args()
    if args.index_repo:
        index_timing(args.index_repo.resolve())
    else:
        main_with(args)


def main_with(args, localizer=localize_repo) -> list[dict]:
    instances, _ = load_dataset(args.data)
    rows = []
    for inst in instances:
        if args.only not in inst.instance_id:
            continue
        if not (args.repos / inst.repo.replace("/", "__")).is_dir():
            print(f"{inst.instance_id}: no mirror in {args.repos}, skipped")
            continue
        dest = args.work / inst.instance_id
        work = dest / "repo"
        if not work.is_dir():
            checkout(inst, args.repos, dest)
        for mode in args.modes:
            row = measure(inst, work, mode, args.budget, localizer,
                          getattr(args, "python", sys.executable))
            rows.append(row)
            print(f"{row['instance']:<36} {mode:<5} file {row['file_hit']:.2f} "
                  f"hunk {row['hunk_hit']:.2f} chars {row['chars']:>6} "
                  f"cold {row['cold_s']:.2f}s warm {row['warm_s']:.2f}s", flush=True)
    for mode in args.modes:
        got = [r for r in rows if r["mode"] == mode]
        if not got:
            continue
        print(f"\n{mode}: {len(got)} issues at {args.budget} tokens: "
              f"file hit {statistics.mean(r['file_hit'] for r in got):.2f}, "
              f"hunk hit {statistics.mean(r['hunk_hit'] for r in got):.2f}, "
              f"context {statistics.mean(r['chars'] for r in got) / (args.budget * 4):.0%} "
              f"of {args.budget * 4} chars, "
              f"p50 {statistics.median(r['cold_s'] for r in got):.2f} s cold / "
              f"{statistics.median(r['warm_s'] for r in got):.2f} s cached")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
