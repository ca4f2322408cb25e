"""Memory: ingestion rate, disk per 10k episodes, time to open a store (writable, read-only,
which copies the index, and replaying its log alone), recall latency p50/p95, and recall@3 of
an episode of the same bug kind on a labelled synthetic set.

Episodes come from 12 bug kinds, each with its own vocabulary, dressed in random identifiers;
queries are fresh episodes of a known kind. Latency is for the whole hybrid recall (vector +
BM25 + fusion + filters), warm (the BM25 index is built by the first query, timed apart).

Run: .venv/bin/python benchmarks/memory_bench.py [--sizes 1000 10000 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from patchlore.memory.retrieve import recall
from patchlore.memory.schema import VERIFIED, Episode, Signature
from patchlore.memory.store import MemoryStore

KINDS = {
    "off-by-one": ("IndexError", "list index out of range", "last item skipped range end page"),
    "wrong-operator": ("AssertionError", "assert 220 == 180", "discount added instead subtract sign"),
    "none-check": ("AttributeError", "'NoneType' object has no attribute", "missing value none guard"),
    "mutable-default": ("AssertionError", "assert {'a': 1} == {}", "shared default dict mutated call"),
    "exception-handling": ("KeyError", "'missing'", "retry catches every exception broad except"),
    "zero-division": ("ZeroDivisionError", "division by zero", "empty list average mean count"),
    "encoding": ("UnicodeDecodeError", "'utf-8' codec can't decode byte", "bytes text encoding read"),
    "type-coercion": ("TypeError", "can only concatenate str (not \"int\") to str", "string int convert format"),
    "timezone": ("AssertionError", "assert datetime(...) == datetime(...)", "naive aware timezone utc offset"),
    "sorting": ("AssertionError", "assert [3, 1, 2] == [1, 2, 3]", "order sort key reverse stable"),
    "recursion": ("RecursionError", "maximum recursion depth exceeded", "base case recursive call tree"),
    "path-handling": ("FileNotFoundError", "No such file or directory", "relative path join cwd directory"),
}
WORDS = "alpha beta gamma delta parser loader cache widget order invoice user report item node".split()


def make_episode(rng: random.Random, kind: str, i: int) -> Episode:
    exc, msg, vocab = KINDS[kind]
    ident = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}"
    words = vocab.split()
    task = (f"{ident}() fails: {' '.join(rng.sample(words, k=min(4, len(words))))} "
            f"in {rng.choice(WORDS)} module")
    return Episode(repo=f"repo{rng.randrange(50)}", task=task,
                   signature=Signature(exc, msg, [f"tests/test_{ident}.py::test_{i}"],
                                       [f"src/{ident}.py:{ident}"]),
                   diff=f"--- a/src/{ident}.py\n+++ b/src/{ident}.py\n@@ -1 +1 @@\n-old {i}\n+new {i}\n",
                   outcome=VERIFIED, created=float(i))


def bench(size: int, queries: int, root: Path) -> dict:
    rng = random.Random(size)
    kinds = list(KINDS)
    label = {}
    eps = []
    for i in range(size):
        kind = kinds[i % len(kinds)]
        ep = make_episode(rng, kind, i)
        label[ep.id] = kind
        eps.append(ep)
    store = MemoryStore(root / f"m{size}")
    start = time.perf_counter()
    for j in range(0, size, 2000):
        store.put_many(eps[j:j + 2000])
    ingest_s = time.perf_counter() - start
    disk = store.stats()["disk_bytes"]
    opens, opens_read_only = [], []
    for _ in range(3):  # what every `fix` pays: replaying the log and opening the index
        for read_only, times in ((False, opens), (True, opens_read_only)):
            # read-only also copies the index (memory/index_copy.py)
            t = time.perf_counter()
            MemoryStore(root / f"m{size}", read_only=read_only).vector_search(
                "episode", "IndexError", 1)
            times.append(time.perf_counter() - t)
    replays = []
    for _ in range(5):  # the log alone (parsing, checking, locking), the least noisy of five
        t = time.perf_counter()
        MemoryStore(root / f"m{size}")
        replays.append(time.perf_counter() - t)
    qrng = random.Random(7)
    qs = [(k, make_episode(qrng, k, 10**9 + n)) for n, k in
          enumerate(qrng.choice(kinds) for _ in range(queries))]
    t = time.perf_counter()
    recall(store, qs[0][1].text())  # builds the BM25 index
    first_s = time.perf_counter() - t
    lat, hits = [], 0
    for kind, q in qs:
        t = time.perf_counter()
        found = recall(store, q.text(), k_demos=3, budget_tokens=100_000)
        lat.append(time.perf_counter() - t)
        hits += any(label.get(d.id) == kind for d in found.demos[:3])
    lat.sort()
    return {"episodes": size, "ingest_s": round(ingest_s, 1),
            "ingest_per_s": round(size / ingest_s), "disk_mb": round(disk / 1e6, 1),
            "disk_mb_per_10k": round(disk / 1e6 * 10_000 / size, 1),
            "open_s": round(statistics.median(opens), 3),
            "open_read_only_s": round(statistics.median(opens_read_only), 3), "replay_s": round(min(replays), 3),
            "first_query_s": round(first_s, 2),
            "p50_ms": round(1000 * statistics.median(lat), 1),
            "p95_ms": round(1000 * lat[int(0.95 * (len(lat) - 1))], 1),
            "recall_at_3_same_kind": round(hits / len(qs), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            print(json.dumps(bench(size, args.queries, Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
