"""Wall time of one `patchlore fix` from the command line, cold (a new process each time), with
an instant stub model, memory on (a store with one earlier episode, so recall really runs), in
Docker, on examples/pricing. What a developer waits for beyond the model's own time.

With `--before TREE` (a checkout of another patchlore, e.g. `git archive main | tar -x -C
TREE`), runs of that tree's patchlore (same venv) alternate with this one's, so both are
measured under the same load; the figure is each one's wall time minus its test time.

Run: DOCKER_HOST=... .venv/bin/python benchmarks/fix_wall.py [--runs 5] [--before TREE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from fix_overhead import GOLD  # noqa: E402
from stub_llm import StubLLM  # noqa: E402


def fix(repo: Path, stub: StubLLM, memory: Path, tree: Path | None = None) -> tuple[float, dict]:
    env = {**os.environ, "NO_COLOR": "1"}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    start = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "patchlore", "fix", "--repo", str(repo), "--model",
         "hosted_vllm/stub-coder", "--api-base", stub.api_base, "--samples", "1", "--rounds",
         "1", "--memory", str(memory), "--sandbox", "docker", "--json"],
        capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    assert res.returncode == 0, res.stderr[-2000:]
    return wall, json.loads(res.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--before", type=Path, help="another patchlore tree to compare with")
    args = ap.parse_args()
    trees = {"this": None, **({"before": args.before} if args.before else {})}
    walls: dict[str, list[float]] = {name: [] for name in trees}
    tests: dict[str, list[float]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp, StubLLM(lambda body: [GOLD["pricing"]]) as stub:
        repo = Path(tmp) / "pricing"
        shutil.copytree(ROOT / "examples" / "pricing", repo)
        for cmd in (["init", "-q"], ["add", "-A"], ["-c", "user.name=b", "-c", "user.email=b@b",
                                                     "commit", "-qm", "base"]):
            subprocess.run(["git", "-C", str(repo), *cmd], check=True)
        memory = Path(tmp) / "memory"
        fix(repo, stub, memory)  # leaves an episode behind: later runs recall it
        for _ in range(args.runs):
            for name, tree in trees.items():
                wall, out = fix(repo, stub, memory, tree)
                walls[name].append(wall)
                tests[name].append(out.get("test_seconds", 0.0))
    print(json.dumps({name: {"runs": args.runs,
                             "wall_s_median": round(statistics.median(walls[name]), 2),
                             "wall_s_min": round(min(walls[name]), 2),
                             "test_s_median": round(statistics.median(tests[name]), 2),
                             "overhead_s_median": round(statistics.median(
                                 w - t for w, t in zip(walls[name], tests[name])), 2)}
                      for name in trees}, indent=2))


if __name__ == "__main__":
    main()
