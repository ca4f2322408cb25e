"""In-process repairs for the fast loop tests: a replayed model, the local sandbox, a real
pytest, no Docker and no HTTP. A repair takes about a second."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from patchlore.repair.loop import RepairOptions, RepairResult, repair
from patchlore.llm.model import ReplayModel
from patchlore.trajectory import Trajectory, read_events
from patchlore.sandbox.local_backend import LocalSandbox
from patchlore.sandbox.snapshot import take_snapshot

TEST_CMD = f"{sys.executable} -m pytest -q -p no:cacheprovider"


def edit(path: str, search: str, replace: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


def replay_file(path: Path, rounds: list[list[str]]) -> Path:
    """A recording whose model answers each request with the next list of answers."""
    path.write_text("".join(json.dumps({"kind": "model_reply", "texts": texts}) + "\n"
                            for texts in rounds))
    return path


@dataclass
class Ran:
    result: RepairResult
    events: list[dict]

    def kinds(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["kind"] == kind]


def run_repair(repo: Path, work: Path, rounds: list[list[str]], memory=None, **options) -> Ran:
    """Repair `repo` with answers replayed round by round (samples = answers per round),
    recalling from `memory` (a MemoryStore) when options' memory_mode says so."""
    work.mkdir(parents=True, exist_ok=True)
    snap = take_snapshot(repo)
    model = ReplayModel(str(replay_file(work / "replay.jsonl", rounds)))
    opts = RepairOptions(**{"test_cmd": TEST_CMD, "samples": len(rounds[0]),
                            "rounds": len(rounds), **options})
    traj = Trajectory(work / "runs")
    try:
        with LocalSandbox(snap, timeout=120) as box:
            result = repair(snap, box, model, opts, traj, memory=memory)
    finally:
        traj.close()
    return Ran(result, read_events(traj.path))
