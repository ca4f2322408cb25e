"""Verifying one candidate in a reused container versus a fresh container per candidate.

For each way, one candidate = apply its patch + run the tests (in the reused container:
sandbox/verify.py's `verify`, whose one sandbox call resets to the snapshot, applies and reads
back the sandbox's diff as the patch; in a fresh one: create, copy in, apply, tests, remove).
Overhead = wall time minus the bare test run, timed inside the container. Medians of N
candidates, all measured in one run.

Run: DOCKER_HOST=... .venv/bin/python benchmarks/verify_overhead.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from patchlore.sandbox.verify import VerifyOptions, failing_tests, verify
from patchlore.config import Settings
from patchlore.sandbox.factory import open_sandbox
from patchlore.sandbox.testrun import run_tests

TEST_CMD = "python3 -m pytest -q"
N_TESTS = 40
FIX = """\
--- a/mathx.py
+++ b/mathx.py
@@ -1,2 +1,2 @@
 def clamp(x, lo, hi):
-    return max(lo, min(x, lo))
+    return max(lo, min(x, hi))
"""


def make_repo(root: Path) -> Path:
    root.mkdir()
    (root / "mathx.py").write_text("def clamp(x, lo, hi):\n    return max(lo, min(x, lo))\n")
    tests = ["from mathx import clamp\n"]
    for i in range(N_TESTS):
        tests.append(f"\ndef test_clamp_{i}():\n    assert clamp({i}, 0, {N_TESTS // 2}) == "
                     f"{min(i, N_TESTS // 2)}\n")
    (root / "test_mathx.py").write_text("".join(tests))
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init"]):
        subprocess.run(cmd, cwd=root, check=True)
    return root


BARE = ("python3 -c \"import subprocess, time; t = time.perf_counter(); "
        f"subprocess.run('{TEST_CMD}', shell=True, capture_output=True); "
        "print(time.perf_counter() - t)\"")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    settings = Settings(sandbox="docker")
    with tempfile.TemporaryDirectory() as tmp:
        repo = str(make_repo(Path(tmp) / "repo"))
        bare, reused, fresh = [], [], []
        with open_sandbox(settings, repo) as box:
            baseline = run_tests(box, TEST_CMD)  # also warms the page cache and imports
            failing = failing_tests(baseline)
            for _ in range(args.runs):
                box.apply_patch(FIX)
                bare.append(float(box.run(BARE).stdout))
                box.reset()
            for _ in range(args.runs):
                start = time.perf_counter()
                assert verify(box, FIX, baseline, failing, VerifyOptions(TEST_CMD)).verified
                reused.append(time.perf_counter() - start)
        for _ in range(args.runs):
            start = time.perf_counter()
            with open_sandbox(settings, repo) as box:
                assert box.apply_patch(FIX).applied
                assert run_tests(box, TEST_CMD).passed
            fresh.append(time.perf_counter() - start)
    b, r, f = (statistics.median(x) for x in (bare, reused, fresh))
    print(json.dumps({
        "runs": args.runs, "tests": N_TESTS,
        "bare_test_run_s": round(b, 3),
        "reused_container_s": round(r, 3), "reused_overhead_s": round(r - b, 3),
        "fresh_container_s": round(f, 3), "fresh_overhead_s": round(f - b, 3),
        "target_overhead_s": 0.3, "meets_target": r - b < 0.3,
    }, indent=2))


if __name__ == "__main__":
    main()
