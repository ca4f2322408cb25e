"""Build the minibench: git mirrors of its repos (named owner__name, as SWE-bench's are), and
optionally the dataset, with FAIL_TO_PASS / PASS_TO_PASS measured by running the tests.

Each instance under instances/<name>/ has base/ (the repo at its base commit), gold/ (files
as the fix leaves them) and tests/ (test files as the test patch leaves them). Commits use fixed
names and dates, so the base commits in minibench.jsonl are the same on every machine.

    python examples/minibench/build.py --mirrors DIR            # mirrors only
    python examples/minibench/build.py --mirrors DIR --dataset   # and rewrite minibench.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OWNER = "patchlore"
ENV = {"GIT_AUTHOR_NAME": "minibench", "GIT_AUTHOR_EMAIL": "minibench@localhost",
       "GIT_COMMITTER_NAME": "minibench", "GIT_COMMITTER_EMAIL": "minibench@localhost",
       "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}


def git(cwd: Path, *args: str) -> str:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")}, **ENV}
    return subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "core.autocrlf=false",
                           *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout


def build_mirror(name: str, out: Path) -> tuple[Path, str]:
    repo = out / f"{OWNER}__{name}"
    if repo.exists():
        shutil.rmtree(repo)
    shutil.copytree(HERE / "instances" / name / "base", repo)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"{name}: base")
    return repo, git(repo, "rev-parse", "HEAD").strip()


def diff_against(repo: Path, overlay: Path) -> str:
    """The diff that turns the repo's tree into it with `overlay`'s files laid over it."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "w"
        shutil.copytree(repo, work, ignore=shutil.ignore_patterns("__pycache__"))
        for f in overlay.rglob("*"):
            if f.is_file():
                dest = work / f.relative_to(overlay)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(f, dest)
        git(work, "add", "-A")
        return git(work, "diff", "--cached", "--no-color", "HEAD")


def outcomes(repo: Path, patches: list[str]) -> dict[str, bool]:
    """{test id: passed} after applying `patches` to a copy of the repo."""
    sys.path.insert(0, str(HERE.parent.parent))
    from patchlore.sandbox.testrun import parse_junit

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "w"
        shutil.copytree(repo, work)
        for i, patch in enumerate(patches):
            (work / f".p{i}.diff").write_text(patch)
            git(work, "apply", f".p{i}.diff")
            (work / f".p{i}.diff").unlink()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--junitxml", str(Path(tmp) / "j.xml"), "-o", "junit_family=xunit1"],
                       cwd=work, capture_output=True)
        return {k: t.passed for k, t in parse_junit((Path(tmp) / "j.xml").read_bytes()).items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirrors", type=Path, required=True)
    ap.add_argument("--dataset", action="store_true", help="rewrite minibench.jsonl")
    args = ap.parse_args()
    args.mirrors.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in sorted(p.name for p in (HERE / "instances").iterdir() if p.is_dir()):
        repo, base = build_mirror(name, args.mirrors)
        if not args.dataset:
            continue
        inst = HERE / "instances" / name
        patch = diff_against(repo, inst / "gold")
        test_patch = diff_against(repo, inst / "tests")
        before = outcomes(repo, [test_patch])
        after = outcomes(repo, [test_patch, patch])
        rows.append({
            "instance_id": f"{OWNER}__{name}-1", "repo": f"{OWNER}/{name}",
            "base_commit": base, "environment_setup_commit": base, "version": "1.0",
            "created_at": "2026-01-01T00:00:00Z",
            "problem_statement": (inst / "ISSUE.md").read_text().strip(),
            "hints_text": "", "patch": patch, "test_patch": test_patch,
            "FAIL_TO_PASS": json.dumps(sorted(t for t, ok in after.items()
                                              if ok and not before.get(t, False))),
            "PASS_TO_PASS": json.dumps(sorted(t for t, ok in after.items()
                                              if ok and before.get(t, False))),
        })
    if args.dataset:
        with (HERE / "minibench.jsonl").open("w") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")
        print(f"wrote {len(rows)} instances to {HERE / 'minibench.jsonl'}")
    print(f"mirrors in {args.mirrors}")


if __name__ == "__main__":
    main()
