"""Instance repositories: local mirrors named owner__name (SWE-bench's convention), cloned on
first use, and working copies at a commit."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

from patchlore.errors import PatchloreError
from patchlore.evals.dataset import Instance

_clone_lock = threading.Lock()


def mirror_of(repo: str, repos_dir: Path) -> Path:
    """The local mirror of `owner/name` in repos_dir (owner__name), cloned on first use from
    $PATCHLORE_GIT_BASE_URL (default GitHub) when it is not there yet; a `repo` that is an
    absolute path is that repository itself."""
    if Path(repo).is_absolute():  # a repository named by its path (practice instances)
        if not Path(repo).is_dir():
            raise PatchloreError(f"{repo}: the instance's repository is not there",
                                 hint="rerun `patchlore practice` in that repo")
        return Path(repo)
    mirror = repos_dir / repo.replace("/", "__")
    with _clone_lock:  # parallel workers share one clone
        if mirror.is_dir():
            return mirror
        base = os.environ.get("PATCHLORE_GIT_BASE_URL", "https://github.com").rstrip("/")
        repos_dir.mkdir(parents=True, exist_ok=True)
        partial = mirror.with_name(mirror.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            done = subprocess.run(["git", "clone", "-q", "--bare", f"{base}/{repo}.git",
                                   str(partial)], capture_output=True, text=True, timeout=3600)
        except subprocess.TimeoutExpired:
            done = subprocess.CompletedProcess([], 1, "", "timed out after an hour")
        if done.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise PatchloreError(f"{repo}: no mirror in {repos_dir} and cloning {base}/{repo}.git "
                                 f"failed: {done.stderr.strip()[-200:]}",
                                 hint="put a clone there, named owner__name")
        partial.rename(mirror)  # only a complete clone ever carries the mirror's name
    return mirror


def checkout(inst: Instance, repos_dir: Path, dest: Path, commit: str = "") -> Path:
    """A working copy of the instance's repo at `commit` (default: its base commit)."""
    mirror = mirror_of(inst.repo, repos_dir)
    work = dest / "repo"
    for cmd in (["git", "clone", "-q", "--no-checkout", str(mirror), str(work)],
                ["git", "-C", str(work), "checkout", "-q", commit or inst.base_commit]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise PatchloreError(f"{inst.instance_id}: {' '.join(cmd[:3])} failed: "
                                 f"{done.stderr.strip()[:200]}")
    return work
