"""Twin recall at scale, and `memory search` latency against the store's size.

A store of N verified episodes, all look-alikes: 12 bug kinds (memory_bench's), each episode one
bug with its own specifics (the two numbers its failure shows, the two domain nouns it is about,
three words of its kind's vocabulary) in code with random names. A query is the twin of one
stored episode: the same bug (kind, specifics, message) in renamed code (another function,
module and test name). Hit: the stored episode is among the 2 demonstrations recall returns
(the default `fix` uses). Targets are spread over the store; queries are fixed per seed.

`memory search` is timed as a user runs it: a new process per query (import, open the store,
recall, print), median of a few, at each size; the ratio to the smallest size is the figure.

Run: nice -n 10 .venv/bin/python -m benchmarks.memory_twins [--sizes 1000 50000] [--queries 200]
(stores are built once under --dir, /work/perfdata by default, and reused)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.memory_bench import KINDS, WORDS

NOUNS = ("invoice cart order customer discount coupon tax shipment refund ledger account "
         "budget payroll report session token user profile upload thumbnail message queue "
         "retry schedule calendar booking ticket seat route cache index page cursor batch "
         "export import backup archive metric sensor reading").split()
SYLLABLES = "ka lo mi nu pe ra si to vu za bre cli dra fo gri".split()


def bug(rng: random.Random, kind: str) -> dict:
    exc, msg, vocab = KINDS[kind]
    return {"kind": kind, "exc": exc, "msg": msg, "got": rng.randrange(10, 10_000),
            "want": rng.randrange(10, 10_000), "nouns": rng.sample(NOUNS, 2),
            "words": rng.sample(vocab.split(), 3)}


def names(rng: random.Random) -> tuple[str, str]:
    word = lambda: "".join(rng.choice(SYLLABLES) for _ in range(3))  # noqa: E731
    return f"{word()}_{rng.choice(WORDS)}", f"{word()}_{word()}"


def render(b: dict, func: str, module: str, i: int):
    from patchlore.memory.schema import VERIFIED, Episode, Signature

    a, c = b["nouns"]
    task = (f"{func}() gives {b['got']} instead of {b['want']} for a {a} with a {c}: "
            f"{' '.join(b['words'])}")
    return Episode(repo=f"repo{i % 50}", task=task,
                   signature=Signature(b["exc"], f"{b['msg']} ({b['got']} != {b['want']})",
                                       [f"tests/test_{module}.py::test_{func}_{a}"],
                                       [f"src/{module}.py:{func}"]),
                   diff=f"--- a/src/{module}.py\n+++ b/src/{module}.py\n@@ -1 +1 @@\n"
                        f"-{func}({a}) {i}\n+{func}({c}) {i}\n",
                   outcome=VERIFIED, created=float(i))


def corpus(size: int) -> tuple[list, list]:
    """The stored episodes, and their bugs (what a twin query is made from)."""
    rng = random.Random(size)
    kinds = list(KINDS)
    bugs = [bug(rng, kinds[i % len(kinds)]) for i in range(size)]
    return [render(b, *names(rng), i) for i, b in enumerate(bugs)], bugs


def queries(bugs: list, count: int) -> list[tuple[int, str]]:
    rng = random.Random(7)
    picks = rng.sample(range(len(bugs)), min(count, len(bugs)))
    return [(t, render(bugs[t], *names(rng), t).text()) for t in picks]


def hard_queries(bugs: list, count: int) -> list[tuple[int, str]]:
    """Twins reported differently as well: renamed code, another sentence (the numbers and the
    nouns in the other order), two of the three words of the kind, and a red herring (a word of
    another kind's vocabulary, a frame in an unrelated file). What still tells the stored
    episode from its look-alikes: its kind, its nouns, its two numbers, two of its words."""
    from patchlore.memory.schema import Signature

    rng = random.Random(11)
    picks = rng.sample(range(len(bugs)), min(count, len(bugs)))
    out = []
    for t in picks:
        b = bugs[t]
        func, module = names(rng)
        a, c = b["nouns"]
        other = KINDS[rng.choice([k for k in KINDS if k != b["kind"]])][2].split()
        words = rng.sample(b["words"], 2)
        task = (f"{module}.{func} expected {b['want']} but got {b['got']} once the {c} met a "
                f"{a}; {words[0]} {words[1]}, maybe {rng.choice(other)}?")
        sig = Signature(b["exc"], f"{KINDS[b['kind']][1]} ({b['got']} != {b['want']})",
                        [f"tests/{module}/test_{func}.py::test_{c}"],
                        [f"src/{module}/{func}.py:{func}", f"lib/{names(rng)[1]}.py:run"])
        out.append((t, f"{task}\n{sig.text()}"))
    return out


def build(size: int, root: Path) -> tuple[Path, float | None]:
    """The store of `size` look-alikes (built once); ingestion rate when built now."""
    from patchlore.memory.store import MemoryStore

    path = root / f"twins-{size}"
    if (path / "built").exists():
        return path, None
    eps, _ = corpus(size)
    store = MemoryStore(path)
    start = time.perf_counter()
    for j in range(0, size, 2000):
        store.put_many(eps[j:j + 2000])
    rate = size / (time.perf_counter() - start)
    (path / "built").write_text(json.dumps({"ingest_per_s": round(rate)}))
    return path, rate


def twin_recall(path: Path, size: int, count: int) -> dict:
    from patchlore.memory.retrieve import recall
    from patchlore.memory.store import MemoryStore

    eps, bugs = corpus(size)
    store = MemoryStore(path)  # writable, as `fix` opens it: it saves the snapshot and BM25
    hits, lat = 0, []
    for target, text in queries(bugs, count):
        t = time.perf_counter()
        found = recall(store, text)
        lat.append(time.perf_counter() - t)
        hits += eps[target].id in {d.id for d in found.demos}
    hard = [eps[target].id in {d.id for d in recall(store, text).demos}
            for target, text in hard_queries(bugs, count)]
    first, warm = lat[0], sorted(lat[1:])  # the first also loads the indexes
    # the anchor: chromadb alone, the same collection, embedder and pool size as recall's
    col = store._collections()["episode"]
    bare = []
    for _, text in queries(bugs, count):
        t = time.perf_counter()
        col.query(query_embeddings=store.embedder.embed([text]), n_results=20,
                  include=["distances"])
        bare.append(time.perf_counter() - t)
    bare.sort()
    return {"twin_recall": round(hits / len(lat), 3),
            "hard_twin_recall": round(sum(hard) / len(hard), 3),
            "p50_ms": round(1000 * statistics.median(warm), 1),
            "p95_ms": round(1000 * pct95(warm), 1),
            "chroma_p50_ms": round(1000 * statistics.median(bare), 1),
            "chroma_p95_ms": round(1000 * pct95(bare), 1),
            "first_recall_s": round(first, 2)}


def pct95(sorted_values: list[float]) -> float:
    return sorted_values[int(0.95 * (len(sorted_values) - 1))]


def ingest_vs_chroma(count: int) -> dict:
    """Ingestion into a new store (log, lock, index) against chromadb alone (upserting the
    same documents and embeddings into a new collection), both measured now."""
    import tempfile

    import chromadb

    from patchlore.memory.embed import HashEmbedding
    from patchlore.memory.store import MemoryStore

    eps, _ = corpus(count)
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryStore(Path(tmp) / "store")
        t = time.perf_counter()
        for j in range(0, count, 2000):
            store.put_many(eps[j:j + 2000])
        ours = count / (time.perf_counter() - t)
        client = chromadb.PersistentClient(path=str(Path(tmp) / "bare"),
                                           settings=chromadb.Settings(anonymized_telemetry=False))
        col = client.create_collection("bare", configuration={"hnsw": {"space": "cosine"}},
                                       embedding_function=None)
        embedder = HashEmbedding()
        t = time.perf_counter()
        for j in range(0, count, 2000):
            batch = eps[j:j + 2000]
            docs = [e.text() for e in batch]
            col.upsert(ids=[e.id for e in batch], documents=docs,
                       metadatas=[{"repo": e.repo} for e in batch],
                       embeddings=embedder.embed(docs))
        bare = count / (time.perf_counter() - t)
    return {"ingest_new_store_per_s": round(ours), "chroma_ingest_per_s": round(bare),
            "ingest_sample": count}


def search_cli(path: Path, size: int, runs: int) -> tuple[float, float]:
    """Median wall and CPU (user + system) seconds of `patchlore memory search` in a new
    process; CPU is what other sessions' load on the machine changes least."""
    _, bugs = corpus(size)
    times, cpu = [], []
    for _, text in queries(bugs, runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "patchlore", "memory", "search", text, "--memory",
                        str(path), "--json"], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "NO_COLOR": "1"})
        times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 50_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--search-runs", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path("/work/perfdata"))
    args = ap.parse_args()
    base = None
    sample = ingest_vs_chroma(min(2000, min(args.sizes)))
    for size in args.sizes:
        path, rate = build(size, args.dir)
        row = {"episodes": size, "ingest_per_s": round(rate) if rate else
               json.loads((path / "built").read_text())["ingest_per_s"], **sample}
        row.update(twin_recall(path, size, args.queries))
        wall, cpu = search_cli(path, size, args.search_runs)
        row["search_cli_s"], row["search_cli_cpu_s"] = round(wall, 2), round(cpu, 2)
        base = base or (wall, cpu)
        row["search_vs_smallest"] = round(wall / base[0], 2)
        row["search_cpu_vs_smallest"] = round(cpu / base[1], 2)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
