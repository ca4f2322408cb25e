"""Grading for the benchmarks: `patchlore eval grade` run as a user runs it, and the no-fix
predictions that show whether an instance's tests can tell a fix from none."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# adds a file and changes no code: an empty prediction is never run (as in SWE-bench's
# harness), so it would count 0 whatever the environment; this one runs the tests unfixed
NO_FIX = "--- /dev/null\n+++ b/patchlore-no-fix.txt\n@@ -0,0 +1 @@\n+no fix\n"


def no_fix_predictions(ids: list[str], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"instance_id": i, "model_name_or_path": "no-fix",
                                        "model_patch": NO_FIX}) + "\n" for i in ids))
    return path


def grade(dataset: Path, repos: Path, out: Path, predictions: str, timeout: float,
          workers: int = 1, image: str = "") -> dict:
    """`patchlore eval grade`'s report; its stderr goes to ours (progress, warnings), and a
    grade that ends without a report stops the benchmark with its exit code."""
    patchlore = Path(sys.executable).with_name("patchlore")
    done = subprocess.run([str(patchlore), "eval", "grade", "--dataset", str(dataset),
                           "--predictions", predictions, "--repos-dir", str(repos), "--output",
                           str(out), "--sandbox", "docker", "--workers", str(workers),
                           "--timeout", f"{timeout:g}",
                           *(["--image", image] if image else []), "--json"],
                          stdout=subprocess.PIPE, text=True)
    # exit 1 is "some instances could not be graded" (counted as errors in the report)
    if done.returncode not in (0, 1) or not (out / "report.json").is_file():
        sys.exit(f"eval grade --predictions {predictions} exited {done.returncode} without a "
                 f"report in {out} (its stderr is above)")
    return json.loads((out / "report.json").read_text())
