"""Tool overhead of `patchlore fix` per task, with an instant stub model, and prompt figures.

For each bundled example: round 1 gets a wrong answer, round 2 the right one, so every step
runs twice. Overhead = wall time minus time spent in test commands, per loop step. Prompt
figures: tokens per task, and the share of each request that is a prefix of the next (the
part a vLLM prefix cache can reuse). The N samples of one request share all of it by
construction (one request with n=N).

Run: DOCKER_HOST=... .venv/bin/python benchmarks/fix_overhead.py [--sandbox docker|local]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from stub_llm import StubLLM  # noqa: E402

from patchlore.repair.loop import RepairOptions, repair  # noqa: E402
from patchlore.llm.model import LitellmModel  # noqa: E402
from patchlore.trajectory import Trajectory  # noqa: E402
from patchlore.config import Settings  # noqa: E402
from patchlore.sandbox.factory import open_sandbox  # noqa: E402
from patchlore.sandbox.snapshot import take_snapshot  # noqa: E402


def block(path: str, old: str, new: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{old}=======\n{new}>>>>>>> REPLACE\n"


GOLD = {
    "pagination": block("pages.py", "    start = page * per_page\n",
                        "    start = (page - 1) * per_page\n"),
    "pricing": block("cart.py", "    return round(amount * (1 + percent / 100), 2)\n",
                     "    return round(amount * (1 - percent / 100), 2)\n"),
    "profiles": block("users.py", '    return user.get("email").split("@")[0]\n',
                      '    email = user.get("email")\n    if not email:\n'
                      '        return "anonymous"\n    return email.split("@")[0]\n'),
    "settings": block("config.py", "def load(overrides: dict | None = None, base: dict = {}) "
                      "-> dict:\n", "def load(overrides: dict | None = None, base: dict | None "
                      "= None) -> dict:\n")
    + block("config.py", "    settings = base\n", "    settings = dict(base or {})\n"),
    "retry": block("fetch.py", "        except Exception as exc:\n",
                   "        except TransientError as exc:\n"),
}
WRONG = "Let me look.\n\nnothing.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n"


def common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sandbox", default="docker")
    ap.add_argument("--samples", type=int, default=4)
    args = ap.parse_args()
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    settings = Settings(sandbox=args.sandbox, test_cmd="python3 -m pytest -q -p no:cacheprovider")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, gold in GOLD.items():
            with StubLLM([[WRONG], [gold]]) as stub:
                model = LitellmModel("hosted_vllm/stub-coder", api_base=stub.api_base)
                snap = take_snapshot(ROOT / "examples" / name)
                traj = Trajectory(Path(tmp) / "runs")
                started = time.monotonic()
                with open_sandbox(settings, snapshot=snap) as box:
                    start_s = time.monotonic() - started
                    res = repair(snap, box, model, RepairOptions(
                        test_cmd=settings.test_cmd, samples=args.samples, rounds=2, workers=1),
                        traj, more_boxes=None)
                traj.close()
                assert res.verified, (name, res.message)
                prompts = [json.dumps(r["messages"]) for r in stub.requests]
            common = common_prefix(prompts[0], prompts[1])
            rows.append({
                "example": name, "wall_s": round(res.seconds, 3),
                "test_s": round(res.test_seconds, 3),
                "overhead_s": round(res.seconds - res.test_seconds, 3),
                "steps_s": {k: round(v, 3) for k, v in res.steps.items()},
                "prompt_tokens": res.usage.prompt_tokens,
                "sandbox_start_s": round(start_s, 3),
                # of round 1's prompt, how much round 2 repeats verbatim at its start
                "round1_prompt_reused": round(common / (len(prompts[0]) - 1), 3),
                # of round 2's prompt, how much a prefix cache already holds
                "round2_prompt_cached": round(common / len(prompts[1]), 3),
            })
    summary = {
        "sandbox": args.sandbox, "samples": args.samples,
        "median_overhead_s": statistics.median(r["overhead_s"] for r in rows),
        "median_prompt_tokens": statistics.median(r["prompt_tokens"] for r in rows),
        "median_sandbox_start_s": statistics.median(r["sandbox_start_s"] for r in rows),
        "median_round1_prompt_reused": statistics.median(r["round1_prompt_reused"] for r in rows),
        "median_round2_prompt_cached": statistics.median(r["round2_prompt_cached"] for r in rows),
        "tasks": rows,
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
