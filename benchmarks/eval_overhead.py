"""A full `eval run` over the minibench with an instant scripted model: tool overhead per
instance (wall time minus time in test commands), then gold-standard grading of its output.

The scripted model answers each instance with a reproduction test (the instance's own new
tests) and a fix (the gold file), so every step of the loop runs for real.

Run: DOCKER_HOST=... .venv/bin/python benchmarks/eval_overhead.py [--sandbox docker]
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from stub_llm import StubLLM  # noqa: E402

from patchlore.repair.loop import RepairOptions  # noqa: E402
from patchlore.config import Settings  # noqa: E402
from patchlore.evals.dataset import load_dataset  # noqa: E402
from patchlore.evals.run import run_all  # noqa: E402

INSTANCES = ROOT / "examples" / "minibench" / "instances"


def block(path: str, old: str, new: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{old}=======\n{new}>>>>>>> REPLACE\n"


def script_for(name: str) -> list[list[str]]:
    inst = INSTANCES / name
    test = next((inst / "tests").iterdir())
    gold = next((inst / "gold").iterdir())
    base = (inst / "base" / gold.name).read_text()
    return [[block("test_patchlore_repro.py", "", test.read_text())],
            [block(gold.name, base, gold.read_text())]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sandbox", default="docker")
    args = ap.parse_args()
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    instances, _ = load_dataset(ROOT / "examples" / "minibench" / "minibench.jsonl")
    script = [a for i in instances for a in script_for(i.repo.split("/")[1])]
    with tempfile.TemporaryDirectory() as tmp, StubLLM(script) as stub:
        mirrors = Path(tmp) / "mirrors"
        subprocess.run([sys.executable, str(ROOT / "examples" / "minibench" / "build.py"),
                        "--mirrors", str(mirrors)], check=True, capture_output=True)
        settings = Settings(sandbox=args.sandbox, model="hosted_vllm/stub-coder",
                            api_base=stub.api_base, memory_mode="off",
                            test_cmd="python3 -m pytest -q -p no:cacheprovider")
        start = time.perf_counter()
        runner = run_all(instances, mirrors, settings,
                         RepairOptions(test_cmd=settings.test_cmd, samples=1, rounds=1),
                         Path(tmp) / "run")
        wall = time.perf_counter() - start
        recs = list(runner.results.values())
    overhead = [r["seconds"] - r.get("test_seconds", 0.0) for r in recs]
    print(json.dumps({
        "sandbox": args.sandbox, "instances": len(recs),
        "verified": sum(r.get("outcome") == "verified" for r in recs),
        "wall_s": round(wall, 1),
        "per_instance_s": round(statistics.median(r["seconds"] for r in recs), 2),
        "test_s_per_instance": round(statistics.median(r.get("test_seconds", 0) for r in recs), 2),
        "overhead_s_per_instance": round(statistics.median(overhead), 2),
        "note": "the first instance also pays litellm's import",
    }, indent=2))


if __name__ == "__main__":
    main()
