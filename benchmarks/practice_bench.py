"""`patchlore practice` on real repos: how fast, how much it keeps, and whether it helps.

Two parts, both on fetched mirrors (bare git dirs, /work/.mirror/owner+name/repo, from the
search tool's `fetch`); every tree is checked out fresh under --work:

  throughput  `patchlore practice --json` (real Docker) on each --repos entry at its mirror's
              HEAD: mutants tried per minute of the whole run (the suite's baseline and trace
              runs included) and the share kept (caught, the rest of the suite still running,
              the inverse verified).
  localize    for each real issue of --loc-repo in the dataset (SWE-bench Lite dev): practice
              at the issue's base commit into a memory of its own, then localization of the
              issue text alone (benchmarks/localize_real.py's `issue` mode and its measure:
              gold file and gold hunk reaching the prompt) with the demonstrations recall finds
              for the issue in that warmed memory, against an empty memory (no demonstration).

Run: DOCKER_HOST=unix:///run/patchlore-dockerd.sock .venv/bin/python benchmarks/practice_bench.py
     [--parts throughput localize] [--max-mutants 30] [--budget 6000 1500] [--work DIR]
     [--out F.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from localize_real import measure  # noqa: E402

from patchlore.evals.dataset import load_dataset  # noqa: E402
from patchlore.evals.repos import checkout  # noqa: E402
from patchlore.localize.localize import localize_repo  # noqa: E402

# (owner/name, test command): small real projects with a suite that passes in the stock image
REPOS = [
    ("benjaminp/six", "python3 -m pytest -q test_six.py"),
    # tests/toml-test is a git submodule the mirror does not hold: its test file is left out
    ("python-poetry/tomlkit", "python3 -m pytest -q tests --ignore=tests/test_toml_tests.py"),
]
LOC_TEST_CMD = "python3 -m pytest -q -p no:cacheprovider tests"


def mirror(mirrors: Path, repo: str) -> Path:
    return mirrors / repo.replace("/", "+") / "repo"


def tree_at(git_dir: Path, commit: str, dest: Path) -> Path:
    """A fresh git work tree of `commit` (one commit: the tree as it was)."""
    if dest.exists():
        subprocess.run(["rm", "-rf", str(dest)], check=True)
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "--git-dir", str(git_dir), "archive", commit],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    env = ["-c", "user.name=bench", "-c", "user.email=bench@patchlore.invalid"]
    for args in (["init", "-q"], ["add", "-A"], [*env, "commit", "-qm", commit]):
        subprocess.run(["git", "-C", str(dest), *args], capture_output=True, check=True)
    return dest


def practise(tree: Path, test_cmd: str, memory: Path, max_mutants: int, setup: bool,
             budget: float | None = None) -> dict:
    cmd = [sys.executable, "-m", "patchlore", "practice", "--repo", str(tree), "--test-cmd",
           test_cmd, "--max-mutants", str(max_mutants), "--memory", str(memory), "--json",
           "--sandbox", "docker", "--setup" if setup else "--no-setup",
           *(["--budget", str(budget)] if budget else [])]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=7200)
    seconds = time.perf_counter() - t
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-600:], "seconds": round(seconds, 1)}
    out = json.loads(done.stdout)
    warnings = [ln for ln in done.stderr.splitlines() if ln.startswith("warning:")]
    return {**out, "warnings": warnings, "seconds": round(seconds, 1),
            "per_minute": round(out["tried"] * 60 / seconds, 2),
            "kept_share": round(out["kept"] / out["tried"], 3) if out["tried"] else 0.0}


def throughput(args) -> list[dict]:
    rows = []
    for repo, test_cmd in REPOS:
        if args.repos and repo not in args.repos:
            continue
        git_dir = mirror(args.mirrors, repo)
        head = subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        tree = tree_at(git_dir, head, args.work / "throughput" / repo.replace("/", "__"))
        row = {"repo": repo, "commit": head[:10], **practise(
            tree, test_cmd, args.work / "throughput" / f"{repo.replace('/', '__')}.mem",
            args.max_mutants, setup=False)}
        row.pop("uncaught", None)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def localization(args) -> list[dict]:
    from patchlore.memory.retrieve import recall_for
    from patchlore.memory.store import MemoryStore

    instances, _ = load_dataset(args.data)
    chosen = [i for i in instances if i.repo == args.loc_repo and args.only in i.instance_id]
    repos = args.work / "repos"  # owner__name -> the mirror, as checkout() looks them up
    repos.mkdir(parents=True, exist_ok=True)
    link = repos / args.loc_repo.replace("/", "__")
    if not link.exists():
        link.symlink_to(mirror(args.mirrors, args.loc_repo))
    rows = []
    for inst in chosen:
        dest = args.work / "localize" / inst.instance_id
        work, memory = dest / "repo", dest / "memory"
        if args.reuse and (memory / "log.jsonl").is_file():  # measure again, no practice
            ran = {"reused": str(memory)}
        else:
            subprocess.run(["rm", "-rf", str(dest)], check=True)
            work = checkout(inst, repos, dest)
            ran = practise(work, args.loc_test_cmd, memory, args.max_mutants, setup=True,
                           budget=args.practice_budget)
        store = MemoryStore(memory)
        # the loop's (and `patchlore localize`'s) recall when no test has failed yet
        found = recall_for(store, inst.problem_statement, {})
        warm = functools.partial(localize_repo, recalled=[(d.id, d.diff) for d in found.demos])
        for budget in args.budget:
            for name, localizer in (("empty", localize_repo), ("practised", warm)):
                row = measure(inst, work, "issue", budget, localizer)
                row.update(memory=name, budget=budget, practice={k: ran.get(k) for k in (
                    "tried", "caught", "kept", "stored", "seconds", "error", "reused") if k in ran},
                    recalled=[d.files for d in found.demos] if name == "practised" else [])
                rows.append(row)
                print(f"{inst.instance_id:<36} {budget:>5} {name:<9} file "
                      f"{row['file_hit']:.2f} hunk {row['hunk_hit']:.2f} recalled "
                      f"{row['recalled']}", flush=True)
    for budget in args.budget:
        for name in ("empty", "practised"):
            got = [r for r in rows if r["memory"] == name and r["budget"] == budget]
            if got:
                print(f"{budget} tokens, {name}: {len(got)} issues: file hit "
                      f"{statistics.mean(r['file_hit'] for r in got):.2f}, hunk hit "
                      f"{statistics.mean(r['hunk_hit'] for r in got):.2f}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", nargs="+", default=["throughput", "localize"],
                    choices=["throughput", "localize"])
    ap.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--repos", nargs="+", help="throughput: only these of REPOS (owner/name)")
    ap.add_argument("--data", type=Path,
                    default=Path("/work/shared/data/swe-bench-lite-dev.jsonl"))
    ap.add_argument("--loc-repo", default="marshmallow-code/marshmallow")
    ap.add_argument("--loc-test-cmd", default=LOC_TEST_CMD)
    ap.add_argument("--only", default="", help="localize: instances whose id contains this")
    ap.add_argument("--max-mutants", type=int, default=30)
    ap.add_argument("--reuse", action="store_true",
                    help="localize: keep a memory practised by an earlier run in --work")
    ap.add_argument("--practice-budget", type=float, default=None,
                    help="seconds of practice per issue in the localize part (--budget)")
    ap.add_argument("--budget", type=int, nargs="+", default=[6000],
                    help="localization budgets in tokens (each measured, empty and warmed)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/patchlore-practice-bench"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    result = {}
    if "throughput" in args.parts:
        result["throughput"] = throughput(args)
    if "localize" in args.parts:
        result["localize"] = localization(args)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
