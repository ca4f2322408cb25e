"""Memory store open: a full replay of the log against an open from its snapshot (with no tail,
and with a tail of 1,000 new records), at each size. Opening reads the log only (the vector
index opens at the first search), so the log is written directly, in the store's own format,
without indexing: the figures are the log's and the snapshot's.

Run: nice -n 19 .venv/bin/python benchmarks/store_open.py [--sizes 1000 100000] [--dir DIR]
(stores are built once in DIR, /work/perfdata by default, and reused)
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

from patchlore.memory import snapshot
from patchlore.memory.redact import redact_data
from patchlore.memory.schema import SCHEMA_VERSION, kind_of, to_dict
from patchlore.memory.store import MemoryStore

from benchmarks.memory_bench import KINDS, make_episode  # noqa: E402


def lines(start: int, count: int) -> bytes:
    rng = random.Random(start)
    kinds = list(KINDS)
    out = []
    for i in range(start, start + count):
        ep = make_episode(rng, kinds[i % len(kinds)], i)
        out.append(json.dumps({"v": SCHEMA_VERSION, "op": "put", "kind": kind_of(ep),
                               "id": ep.id, "ts": float(i),
                               "data": redact_data(to_dict(ep))}, sort_keys=True) + "\n")
    return "".join(out).encode()


def timed(path: Path, runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of an open (CPU: what the open costs, whatever the load of
    the machine shared with other sessions)."""
    times, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        MemoryStore(path)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(times), statistics.median(cpu)


def bench(size: int, root: Path) -> dict:
    path = root / f"open-{size}"
    log = path / "log.jsonl"
    if not log.exists():
        path.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as fh:
            for start in range(0, size, 10_000):
                fh.write(lines(start, min(10_000, size - start)))
    base = log.read_bytes()
    try:
        (path / snapshot.FILE).unlink(missing_ok=True)
        MemoryStore.SNAPSHOT_AFTER = 10**12
        replay, replay_cpu = timed(path, 3)
        MemoryStore.SNAPSHOT_AFTER = 1000
        t = time.perf_counter()
        MemoryStore(path)  # replays and writes the snapshot
        first = time.perf_counter() - t
        snap, snap_cpu = timed(path, 5)
        with log.open("ab") as fh:
            fh.write(lines(size, 1000))
        MemoryStore.SNAPSHOT_AFTER = 10**12  # keep the tail a tail for every run
        tail, tail_cpu = timed(path, 3)
    finally:
        log.write_bytes(base)
        (path / snapshot.FILE).unlink(missing_ok=True)
        MemoryStore.SNAPSHOT_AFTER = 1000
    return {"records": size, "log_mb": round(len(base) / 1e6, 1),
            "full_replay_s": round(replay, 3), "full_replay_cpu_s": round(replay_cpu, 3),
            "first_open_with_save_s": round(first, 3),
            "snapshot_open_s": round(snap, 3), "snapshot_open_cpu_s": round(snap_cpu, 3),
            "snapshot_plus_1000_tail_s": round(tail, 3),
            "snapshot_plus_1000_tail_cpu_s": round(tail_cpu, 3),
            "speedup": round(replay / snap, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    ap.add_argument("--dir", type=Path, default=Path("/work/perfdata"))
    args = ap.parse_args()
    for size in args.sizes:
        print(json.dumps(bench(size, args.dir)), flush=True)


if __name__ == "__main__":
    main()
