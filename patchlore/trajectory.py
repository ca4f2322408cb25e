"""The record of a run: one JSON object per line under .patchlore/runs/<id>/trajectory.jsonl.

It is simply what happened, in order: prompts, replies, commands, test results, timings, with
secrets masked (the same redaction as the memory store). A huge model answer is kept in part:
every string is capped at TEXT_LIMIT characters, and the cut says so where it was made.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from patchlore.memory.redact import redact_data

TEXT_LIMIT = 100_000  # characters of one string (an answer, a prompt part) the record keeps


def cap_text(text: str, limit: int = TEXT_LIMIT) -> str:
    """`text`, or its first and last limit/2 characters with a note of the cut between."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return (f"{text[:half]}\n[patchlore: {len(text) - 2 * half} characters cut here; the run "
            f"record keeps the first and last {half} of {len(text)}]\n{text[-half:]}")


def _capped(value):
    if isinstance(value, str):
        return cap_text(value)
    if isinstance(value, (list, tuple)):
        return [_capped(v) for v in value]
    if isinstance(value, dict):
        return {k: _capped(v) for k, v in value.items()}
    return value


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
        self._lock = threading.Lock()  # parallel explorations log from their own threads

    def log(self, kind: str, **data) -> None:
        event = {"t": round(time.monotonic() - self._start, 3), "kind": kind,
                 **_capped(redact_data(data))}
        line = json.dumps(event, default=str) + "\n"
        with self._lock:
            self._fh.write(line)
            self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def read_events(path: Path, warn: Callable[[str], None] = lambda m: None) -> list[dict]:
    """The record's events; a line cut by a kill or damaged otherwise is skipped and said."""
    events, bad = [], 0
    for line in path.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line) if line.strip() else None
        except ValueError:
            event = False
        if isinstance(event, dict) and "kind" in event:
            events.append(event)
        elif event is not None:
            bad += 1
    if bad:
        warn(f"{path}: {bad} damaged line(s) skipped (a run killed mid-write?)")
    return events
