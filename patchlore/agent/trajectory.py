"""The record of a run: one JSON object per line under .patchlore/runs/<id>/trajectory.jsonl.

It is simply what happened, in order: prompts, replies, commands, test results, timings, with
secrets masked (the same redaction as the memory store).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from patchlore.memory.redact import redact_data


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


class Trajectory:
    def __init__(self, runs_dir: Path, run_id: str | None = None) -> None:
        self.run_id = run_id or new_run_id()
        self.dir = runs_dir / self.run_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "trajectory.jsonl"
        self._fh = self.path.open("a", encoding="utf-8")
        self._start = time.monotonic()

    def log(self, kind: str, **data) -> None:
        event = {"t": round(time.monotonic() - self._start, 3), "kind": kind,
                 **redact_data(data)}
        self._fh.write(json.dumps(event, default=str) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
