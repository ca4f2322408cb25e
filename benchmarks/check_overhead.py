"""`patchlore check` on a passing suite versus the bare test command: medians of N runs,
alternated so machine noise hits both alike.

Run: .venv/bin/python benchmarks/check_overhead.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True)
    assert done.returncode == 0, done.stderr
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        tests = "".join(f"def test_{i}():\n    assert {i} + 1 == {i + 1}\n\n" for i in range(40))
        (repo / "test_suite.py").write_text(tests)
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        bare_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        exe = shutil.which("patchlore") or str(Path(sys.executable).parent / "patchlore")
        bare, check = [], []
        for _ in range(args.runs):
            bare.append(timed(bare_cmd, repo))
            check.append(timed([exe, "check", "--", *bare_cmd], repo))
    b, c = statistics.median(bare), statistics.median(check)
    print(json.dumps({"runs": args.runs, "bare_s": round(b, 3), "check_s": round(c, 3),
                      "overhead_s": round(c - b, 3), "target_s": 0.3,
                      "meets_target": c - b < 0.3}, indent=2))


if __name__ == "__main__":
    main()
