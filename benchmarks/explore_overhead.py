"""What exploring costs beyond the model: the per-step round trip in the sandbox (against
mini-swe-agent's docker exec on the same engine and image), the share of each request that
repeats the previous one (what a prefix cache saves), and tokens and wall time per task on the
minibench with an instant scripted explorer (look, read, edit, test, submit).

mini-swe-agent is driven from its own venv, never ours: create it once with
    python3 -m venv /tmp/mswea-venv && /tmp/mswea-venv/bin/pip install mini-swe-agent
(--mswea-python points elsewhere; without it that comparison is skipped and said so).

Run: DOCKER_HOST=... .venv/bin/python benchmarks/explore_overhead.py [--steps 30]
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

from patchlore.propose.explore import ENV  # noqa: E402
from patchlore.propose.explore_prompts import SYSTEM as EXPLORE_SYSTEM  # noqa: E402
from patchlore.repair.loop import RepairOptions  # noqa: E402
from patchlore.config import Settings  # noqa: E402
from patchlore.evals.dataset import load_dataset  # noqa: E402
from patchlore.evals.run import run_all  # noqa: E402
from patchlore.sandbox.factory import open_sandbox  # noqa: E402

IMAGE = "patchlore-sandbox:latest"
INSTANCES = ROOT / "examples" / "minibench" / "instances"
COMMAND = "true"

# mini-swe-agent's DockerEnvironment, as its agent uses it: `docker exec ... bash -lc CMD`
MSWEA = """
import json, statistics, sys, time
from minisweagent.environments.docker import DockerEnvironment
env = DockerEnvironment(image=sys.argv[1], cwd="/", timeout=60)
try:
    env.execute({"command": "true"})  # warm
    times = []
    for _ in range(int(sys.argv[2])):
        t = time.perf_counter()
        out = env.execute({"command": sys.argv[3]})
        times.append(time.perf_counter() - t)
        assert out["returncode"] == 0, out
    print(json.dumps({"median_s": statistics.median(times)}))
finally:
    env.cleanup()
"""


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def step_overhead(steps: int) -> dict:
    """One explore step beyond the model: the command's exec (the diff is taken once, at
    `submit`; its cost is shown for reference)."""
    settings = Settings(sandbox="docker", image=IMAGE, setup=False, memory_mode="off")
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        (repo / "m.py").write_text("x = 1\n")
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        with open_sandbox(settings, str(repo)) as box:
            wrapped = f"exec bash -c {COMMAND} 2>&1 </dev/null"
            box.run(wrapped, env=ENV)
            runs, diffs = [], []
            for _ in range(steps):
                t = time.perf_counter()
                box.run(wrapped, env=ENV)
                runs.append(time.perf_counter() - t)
                t = time.perf_counter()
                box.diff()
                diffs.append(time.perf_counter() - t)
    run, diff = statistics.median(runs), statistics.median(diffs)
    return {"exec_ms": ms(run), "diff_at_submit_ms": ms(diff)}


def mswea_overhead(python: str, steps: int) -> dict:
    if not Path(python).exists():
        return {"skipped": f"{python} not found (see the module docstring)"}
    with tempfile.TemporaryDirectory() as home:
        # its first start writes a config dir: keep that out of the user's home
        env = {**os.environ, "MSWEA_GLOBAL_CONFIG_DIR": home, "MSWEA_CONFIGURED": "true"}
        done = subprocess.run([python, "-c", MSWEA, IMAGE, str(steps), COMMAND], env=env,
                              capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return {"skipped": f"mini-swe-agent failed: {done.stderr.strip()[-300:]}"}
    return {"exec_ms": ms(json.loads(done.stdout.splitlines()[-1])["median_s"])}


def bash(command: str) -> str:
    return f"Next.\n\n```bash\n{command}\n```\n"


def explorer(instances) -> callable:
    """An instant scripted model: for each instance (told apart by its problem statement),
    the reproduction test when asked for one, then look, read, edit, test, submit."""
    plans = {}
    for inst in instances:
        name = inst.repo.split("/")[1]
        test = next((INSTANCES / name / "tests").iterdir())
        gold = next((INSTANCES / name / "gold").iterdir())
        repro = f"test_patchlore_repro.py\n<<<<<<< SEARCH\n=======\n{test.read_text()}>>>>>>> REPLACE\n"
        steps = [bash("ls"), bash(f"grep -n 'def ' {gold.name}"),
                 bash(f"nl -ba {gold.name} | sed -n '1,40p'"),
                 bash(f"cat > {gold.name} <<'PATCHLORE_EOF'\n{gold.read_text()}PATCHLORE_EOF"),
                 bash("python3 -m pytest -q"), bash("submit")]
        plans[inst.problem_statement.strip()] = (repro, steps)

    def answer(body: dict) -> list[str]:
        msgs = body["messages"]
        plan = next(p for task, p in plans.items() if task in msgs[1]["content"])
        if msgs[0]["content"] != EXPLORE_SYSTEM:
            return [plan[0]]
        return [plan[1][min(sum(m["role"] == "assistant" for m in msgs), len(plan[1]) - 1)]]

    return answer


def prefix_share(requests: list[dict]) -> dict:
    """For each exploring request after the first of its conversation: the share of its
    serialized messages that the previous request of the same conversation already sent."""
    shares, repeated, total = [], 0, 0
    convs: dict[str, str] = {}
    for body in requests:
        msgs = body["messages"]
        if msgs[0]["content"] != EXPLORE_SYSTEM or body.get("tools"):
            continue  # the pipeline's reproduction request; the tool probe the stub refused
        text = json.dumps(msgs)
        key = msgs[1]["content"]
        prev = convs.get(key, "")
        same = len(os.path.commonprefix([prev, text])) if prev else 0
        if prev:
            shares.append(same / len(text))
        repeated += same
        total += len(text)
        convs[key] = text
    return {"requests": len(shares), "mean_share": round(statistics.mean(shares), 3),
            "min_share": round(min(shares), 3), "repeated_of_all_prompt_chars":
            round(repeated / total, 3)}


def minibench() -> dict:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    instances, _ = load_dataset(ROOT / "examples" / "minibench" / "minibench.jsonl")
    with tempfile.TemporaryDirectory() as tmp, StubLLM(explorer(instances)) as stub:
        mirrors = Path(tmp) / "mirrors"
        subprocess.run([sys.executable, str(ROOT / "examples" / "minibench" / "build.py"),
                        "--mirrors", str(mirrors)], check=True, capture_output=True)
        settings = Settings(sandbox="docker", image=IMAGE, model="hosted_vllm/stub-coder",
                            api_base=stub.api_base, memory_mode="off", agent="explore")
        opts = RepairOptions(test_cmd="python3 -m pytest -q", samples=1, rounds=1,
                             test_timeout=120, workers=1)
        start = time.monotonic()
        runner = run_all(instances, mirrors, settings, opts, Path(tmp) / "out", workers=1)
        wall = time.monotonic() - start
        recs = list(runner.results.values())
        requests = list(stub.requests)
    n = len(recs)
    return {"instances": n, "verified": sum(r.get("outcome") == "verified" for r in recs),
            "seconds_per_task": round(wall / n, 2),
            "tool_seconds_per_task": round(
                sum(r["seconds"] - r.get("test_seconds", 0) for r in recs) / n, 2),
            "prompt_tokens_per_task": round(sum(r.get("prompt_tokens", 0) for r in recs) / n),
            "completion_tokens_per_task": round(
                sum(r.get("completion_tokens", 0) for r in recs) / n),
            "requests_per_task": round(len(requests) / n, 1),  # with the one refused probe
            "prefix": prefix_share(requests)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--mswea-python", default="/tmp/mswea-venv/bin/python")
    ap.add_argument("--skip-minibench", action="store_true")
    args = ap.parse_args()
    out = {"patchlore_step": step_overhead(args.steps),
           "mini_swe_agent_step": mswea_overhead(args.mswea_python, args.steps)}
    if not args.skip_minibench:
        out["minibench"] = minibench()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
