"""Do patchlore's derived environments hold on repositories nobody tuned them on?

Mines SWE-bench-style instances (benchmarks/mine_instances.py) from the history of real Python
repositories that are not in SWE-bench, spread over 2013-2025 and over build back ends, writes
them to a dataset outside git (--data), builds each instance's environment (timed) and grades
gold and no fix with `patchlore eval grade` (patchlore's own derived environments; "empty"
is a patch that adds a file and changes no code, since an empty prediction is never run, as in
SWE-bench's harness, and would count 0 whatever the environment). The figures come twice: on
the miner's labels ("as_mined") and on the rows validated by those same two runs
(benchmarks/validate_instances.py: parametrized ids, new tests that pass without the fix; the
relabelled rows are written to <out>/<split>-validated.jsonl). A quarter of
the repos, chosen by a hash of their name before any tuning, is the held-out split: reported
apart, never looked at while tuning.

The repos come from the search tool's `fetch` (bare git dirs under /work/.mirror/owner+name/repo);
--mirrors points there. Builds need the package index.

Run: DOCKER_HOST=... .venv/bin/python benchmarks/env_generalize.py --split tune \
       --data /work/data/env-generalize --out /work/data/env-generalize/before
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from dev_gold import environment_times  # noqa: E402
from grading import grade, no_fix_predictions  # noqa: E402
from mine_instances import mine  # noqa: E402
from validate_instances import judged, relabel, run_statuses  # noqa: E402

from patchlore.config import Settings  # noqa: E402
from patchlore.evals.dataset import load_dataset  # noqa: E402

# small, fast repos, none in SWE-bench: build back end (as of now; older commits vary) in brackets
REPOS = [
    "benjaminp/six",             # setup.py only
    "jmespath/jmespath.py",      # setup.py only
    "mahmoud/boltons",           # setup.py, later flit
    "un33k/python-slugify",      # setup.py only
    "tkem/cachetools",           # setup.cfg
    "simplejson/simplejson",     # setup.py with a C extension
    "pallets/markupsafe",        # C extension (setup.py, later pyproject)
    "msgpack/msgpack-python",    # Cython extension
    "pytest-dev/pluggy",         # setuptools-scm
    "pytest-dev/pytest-mock",    # setuptools-scm
    "jaraco/zipp",               # setuptools-scm
    "pytest-dev/iniconfig",      # setuptools-scm, later hatch
    "pallets/itsdangerous",      # setup.py, later flit
    "pyparsing/pyparsing",       # setup.py, later flit
    "python-poetry/tomlkit",     # poetry
    "hynek/structlog",           # setuptools, later flit, hatch
    "python-attrs/attrs",        # setup.py, later hatch
    "frostming/marko",           # setup.py, later pdm
    "theskumar/python-dotenv",   # setup.py only
    "jd/tenacity",               # setup.py with pbr, later setuptools-scm
    "agronholm/typeguard",       # setuptools-scm
    "pallets/click",             # setup.py, later flit
]
ERAS = [(2013, 2016), (2017, 2020), (2021, 2025)]


def held_out(repo: str) -> bool:
    """Fixed before tuning: a quarter of the repos, by a hash of the name."""
    return int(hashlib.sha256(repo.encode()).hexdigest(), 16) % 4 == 0


def era(row: dict) -> str:
    year = int(row["created_at"][:4])
    return next(f"{lo}-{hi}" for lo, hi in ERAS if lo <= year <= hi)


def build_data(mirrors: Path, data: Path, per_era: int) -> None:
    repos_dir = data / "repos"
    repos_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for repo in REPOS:
        mirror = mirrors / repo.replace("/", "+") / "repo"
        if not mirror.is_dir():
            print(f"skipped {repo}: no mirror at {mirror} (fetch github:{repo})", file=sys.stderr)
            continue
        link = repos_dir / repo.replace("/", "__")
        if not link.exists():
            link.symlink_to(mirror)
        found = mine(mirror, repo, per_era, ERAS)
        print(f"{repo}: {len(found)} instances", file=sys.stderr)
        rows += found
    for split in ("tune", "heldout"):
        with open(data / f"{split}.jsonl", "w") as fh:
            for row in rows:
                if held_out(row["repo"]) == (split == "heldout"):
                    fh.write(json.dumps(row) + "\n")


def breakdown(rows: list[dict], resolved: set[str], key) -> dict[str, str]:
    groups: dict[str, list[bool]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r["instance_id"] in resolved)
    return {k: f"{sum(v)}/{len(v)}" for k, v in sorted(groups.items())}


def measure(data: Path, split: str, out: Path, workers: int, timeout: float,
            image: str = "") -> dict:
    dataset, repos = data / f"{split}.jsonl", data / "repos"
    rows = [json.loads(ln) for ln in dataset.read_text().splitlines() if ln.strip()]
    instances, _ = load_dataset(dataset)
    settings = Settings(timeout=timeout, **({"image": image} if image else {}))
    start = time.perf_counter()
    times = out / f"{split}-environments.json"  # a rerun grades on, keeping the first builds' times
    if times.is_file():
        envs = json.loads(times.read_text())
    else:
        with ThreadPoolExecutor(workers) as pool:
            envs = list(pool.map(lambda i: environment_times(i, repos, settings, False),
                                 instances))
        out.mkdir(parents=True, exist_ok=True)
        times.write_text(json.dumps(envs, indent=2))
    built = [e["build_s"] for e in envs if "build_s" in e]
    gold = grade(dataset, repos, out / "gold", "gold", timeout, workers, image)
    # the test patch alone: FAIL_TO_PASS must fail
    noop = no_fix_predictions([r["instance_id"] for r in rows], out / "no-fix.jsonl")
    empty = grade(dataset, repos, out / "empty", str(noop), timeout, workers, image)
    won = set(gold["resolved_ids"])
    summary = {
        "split": split,
        "as_mined": {  # the miner's labels, as eval grade judged them
            "instances": len(rows), "repos": len({r["repo"] for r in rows}),
            "gold_resolved": len(won), "empty_resolved": len(empty["resolved_ids"]),
            "gold_per_repo": breakdown(rows, won, lambda r: r["repo"]),
            "gold_per_era": breakdown(rows, won, era),
            "gold_unresolved": gold["unresolved_ids"], "gold_error_ids": gold["error_ids"],
            "empty_resolved_ids": empty["resolved_ids"], "empty_error_ids": empty["error_ids"]},
        "validated": validated(rows, out, split),
        "env_errors": {e["instance"]: e["error"] for e in envs if "error" in e},
        "build_s_median": statistics.median(built) if built else None,
        "build_s_max": max(built, default=None),
        "wall_s": round(time.perf_counter() - start, 1),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{split}.json").write_text(json.dumps(summary, indent=2))
    return summary


def validated(rows: list[dict], out: Path, split: str) -> dict:
    """The figures on the rows relabelled by the gold and no-fix runs (validate_instances.py),
    judged on those same runs; the relabelled rows go to <out>/<split>-validated.jsonl."""
    ids = [r["instance_id"] for r in rows]
    after, before = run_statuses(out / "gold", ids), run_statuses(out / "empty", ids)
    valid, dropped, relabelled = relabel(rows, before, after)
    with open(out / f"{split}-validated.jsonl", "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in valid)
    won = set(judged(valid, after))
    return {"instances": len(valid), "repos": len({r["repo"] for r in valid}),
            "gold_resolved": len(won), "empty_resolved": len(judged(valid, before)),
            "gold_per_repo": breakdown(valid, won, lambda r: r["repo"]),
            "gold_per_era": breakdown(valid, won, era),
            "gold_unresolved": sorted(r["instance_id"] for r in valid
                                      if r["instance_id"] not in won),
            "dropped": dropped, "relabelled": relabelled}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--data", type=Path, default=Path("/work/data/env-generalize"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--split", choices=("tune", "heldout"), default="tune")
    ap.add_argument("--per-era", type=int, default=1)
    ap.add_argument("--mine", action="store_true", help="(re)mine the dataset first")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--image", default="", help="the sandbox image (default: the setting's)")
    args = ap.parse_args()
    if args.mine or not (args.data / f"{args.split}.jsonl").is_file():
        build_data(args.mirrors, args.data, args.per_era)
    print(json.dumps(measure(args.data, args.split, args.out, args.workers, args.timeout,
                             args.image),
                     indent=2))


if __name__ == "__main__":
    main()
