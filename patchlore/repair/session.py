"""One repair of a repo on the host, end to end: snapshot, memory, trajectory, sandbox, loop,
and applying the result to the working tree. Shared by `fix` and `check`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from patchlore.propose.explore_proposer import ExploreProposer
from patchlore.propose.pipeline import PipelineProposer
from patchlore.repair.loop import RepairOptions, RepairResult, repair
from patchlore.llm.model import make_model
from patchlore.trajectory import Trajectory
from patchlore.config import Settings
from patchlore.errors import PatchloreError
from patchlore.memory.redact import redact_data
from patchlore.paths import own_dir
from patchlore.sandbox.factory import open_sandbox
from patchlore.sandbox.patchpaths import check_paths, touched_paths
from patchlore.sandbox.snapshot import Snapshot, take_snapshot


PROPOSERS = {"pipeline": [PipelineProposer], "explore": [ExploreProposer]}  # by setting `agent`


@dataclass
class RunRecord:
    """A finished repair: its result, the snapshot it started from, where it is recorded."""

    result: RepairResult
    snapshot: Snapshot
    run_id: str
    run_dir: Path


def records_dir(root: Path, warn: Callable[[str], None] = lambda m: None) -> Path:
    """Where a repo's run records (and `check`'s suggested patch) go: R/.patchlore, or, when the
    checkout cannot be written (CI checkouts can be read-only), a folder of the user's state
    dir named by the repo's path: the repair still runs, and the tree is never written."""
    try:
        base = own_dir(root)
        (base / "runs").mkdir(exist_ok=True)
        if os.access(base / "runs", os.W_OK | os.X_OK):
            return base
    except OSError:  # read-only: a file system mounted so, or a directory without write access
        pass
    elsewhere = records_elsewhere(root)
    (elsewhere / "runs").mkdir(parents=True, exist_ok=True)
    warn(f"{root} cannot be written: run records go to {elsewhere}")
    return elsewhere


def records_elsewhere(root: Path) -> Path:
    """The state-dir folder of a repo whose checkout cannot be written."""
    import hashlib

    import platformdirs

    key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
    return Path(platformdirs.user_state_dir("patchlore")) / "repos" / f"{root.name}-{key}"


def runs_dirs(root: Path) -> list[Path]:
    """The folders that hold a repo's recorded runs (for reading): in the repo, then in the
    state dir (runs made while the checkout could not be written)."""
    return [d for d in (root / ".patchlore" / "runs", records_elsewhere(root) / "runs")
            if d.is_dir()]


def open_memory(settings: Settings, warn: Callable[[str], None]):
    """The store `memory_mode` asks for: None when off; read mode writes nothing, so it works
    on a read-only directory; online mode fails now, before any work, if it cannot write."""
    if settings.memory_mode == "off":
        return None
    from patchlore.memory.embed import make_embedder
    from patchlore.memory.store import MemoryStore

    return MemoryStore(settings.memory_dir, url=settings.memory_url,
                       embedder=make_embedder(settings.embedder),
                       read_only=settings.memory_mode == "read", warn=warn)


def run_repair(root: Path, settings: Settings, opts: RepairOptions,
               warn: Callable[[str], None] = lambda m: None,
               progress: Callable[[str], None] = lambda m: None,
               runs_root: Path | None = None, run_id: str | None = None,
               note: Callable[[str], None] | None = None, memory=None) -> RunRecord:
    """`progress` hears each step (a spinner); `note`, what deserves a line of its own (a
    first-time requirements install that may take minutes). `memory`: a store already open
    (a batch shares one), else the one the settings name is opened here."""
    llm = make_model(settings.model, settings.api_base, timeout=settings.command_timeout,
                     deadline=opts.deadline)
    snapshot = take_snapshot(root)
    if memory is None:
        memory = open_memory(settings, warn)
    traj = Trajectory(runs_root or records_dir(root, warn) / "runs", run_id)
    traj.log("run_start", repo=str(root), model=settings.model, api_base=settings.api_base,
             test_cmd=opts.test_cmd, task=opts.task, samples=opts.samples, rounds=opts.rounds,
             agent=settings.agent)
    try:
        progress("starting the sandbox")
        with open_sandbox(settings, str(root), warn=warn, snapshot=snapshot,
                          note=note or progress, name=opts.repo_name or root.name) as box:
            # more sandboxes for parallel candidates: the image the first one settled on
            same = replace(settings, image=getattr(box, "image", settings.image), setup=False)
            result = repair(snapshot, box, llm, opts, traj,
                            more_boxes=lambda: open_sandbox(same, str(root), snapshot=snapshot),
                            progress=progress, proposers=PROPOSERS[settings.agent],
                            memory=memory)
    except PatchloreError as exc:  # the run record says how it ended, whatever ended it
        (traj.dir / "result.json").write_text(json.dumps(redact_data(
            {"status": "error", "message": exc.message, "hint": exc.hint}), indent=2))
        raise
    finally:
        traj.close()
    (traj.dir / "result.json").write_text(json.dumps(redact_data(result.to_dict()), indent=2))
    if result.patch:
        (traj.dir / "patch.diff").write_text(result.patch)
    return RunRecord(result, snapshot, traj.run_id, traj.dir)


def refuse_unwritable_tree(root: Path, flag: str) -> None:
    """`flag` (--apply, --fix) on a checkout that cannot be written is refused now, before the
    run pays for its model calls and test runs, rather than failing at the end."""
    if not os.access(root, os.W_OK | os.X_OK):  # also False on a read-only mount
        raise PatchloreError(f"{flag}: {root} cannot be written, so no fix could be applied",
                             hint=f"make the checkout writable, or run without {flag} (the "
                             "verified patch is still shown and kept with the run records)")


def apply_to_worktree(snapshot: Snapshot, patch: str, run_dir: Path) -> str:
    """Apply to the host's working tree (never the index), refusing if a touched file changed
    since the snapshot; the originals are kept. Returns a note saying how to undo it."""
    check_paths(patch, "the verified patch")
    touched = touched_paths(patch)
    changed = snapshot.changed_since(touched)
    if changed:
        raise PatchloreError(
            f"not applied: {', '.join(changed)} changed since the run started",
            hint=f"the verified patch is in {run_dir / 'patch.diff'}; apply it by hand")
    backup = run_dir / "backup"
    for name in touched:
        if (snapshot.root / name).exists():
            (backup / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(snapshot.root / name, backup / name)
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=snapshot.root,
                         capture_output=True, text=True).stdout.strip()
    rel = str(snapshot.root.relative_to(Path(top).resolve())) if top else "."
    cmd = ["git", "apply", "--whitespace=nowarn"]
    if rel != ".":
        cmd.append(f"--directory={rel}")
    done = subprocess.run([*cmd, str(run_dir / "patch.diff")], cwd=top or snapshot.root,
                          capture_output=True, text=True)
    if done.returncode != 0:  # git's own `error:` lines, folded into our one line
        said = "; ".join(re.sub(r"^(error|warning): ", "", ln)
                         for ln in done.stderr.strip().splitlines())
        raise PatchloreError(f"not applied: git apply failed: {said[:200]}",
                             hint=f"the verified patch is in {run_dir / 'patch.diff'}")
    return (f"applied to {snapshot.root}; originals saved in {backup}; "
            f"undo with: git apply -R {run_dir / 'patch.diff'}")
