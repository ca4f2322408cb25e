"""A damaged store on a real chromadb on disk: a log cut mid-write is repaired before the next
append, and a store that cannot write costs the learn step a warning, never the result."""

from __future__ import annotations

import json
import shutil

from patchlore.repair.learn import learn
from patchlore.repair.loop import Candidate, RepairResult
from patchlore.sandbox.verify import Status
from patchlore.memory.schema import VERIFIED, Episode, Signature
from patchlore.memory.store import MemoryStore


def episode(i: int) -> Episode:
    return Episode(repo="r", task=f"widget {i} breaks", signature=Signature("ValueError"),
                   diff=f"+x = {i}\n", outcome=VERIFIED, created=float(i))


def torn_store(path, n: int = 6) -> tuple[list[Episode], bytes]:
    """n records, the last cut half-way, as a crash mid-write leaves them."""
    eps = [episode(i) for i in range(n)]
    MemoryStore(path).put_many(eps[:-1])
    scratch = path.parent / "scratch"
    MemoryStore(scratch).put(eps[-1])
    line = (scratch / "log.jsonl").read_bytes()
    torn = line[:len(line) // 2]
    with (path / "log.jsonl").open("ab") as fh:
        fh.write(torn)
    return eps, torn


def test_a_torn_tail_is_cut_off_before_the_next_append(tmp_path):
    path = tmp_path / "m"
    eps, torn = torn_store(path)
    warnings: list[str] = []
    store = MemoryStore(path, warn=warnings.append)
    assert len(store.episodes()) == 5 and not warnings  # a reader cannot tell a torn line
    new = episode(99)                                   # from one being written: it waits
    store.put(new)
    assert len(warnings) == 1 and "partial record" in warnings[0]
    assert (path / "log.torn").read_bytes() == torn + b"\n"  # nothing thrown away
    lines = (path / "log.jsonl").read_text().splitlines()
    assert len(lines) == 6 and all(json.loads(ln) for ln in lines)
    store.put(episode(100))
    assert len(warnings) == 1  # said once: the log is whole again
    fresh: list[str] = []
    again = MemoryStore(path, warn=fresh.append)
    assert {e.id for e in again.episodes()} == {*(e.id for e in eps[:5]), new.id,
                                                episode(100).id}
    assert again.vector_search("episode", new.text(), 1)[0][0] == new.id and not fresh


def test_a_store_that_cannot_write_costs_learning_a_warning_not_the_result(tmp_path):
    path = tmp_path / "m"
    warnings: list[str] = []
    store = MemoryStore(path, warn=warnings.append)
    store.put(episode(1))
    (path / "log.jsonl").unlink()
    (path / "log.jsonl").mkdir()  # the log cannot be appended to any more
    patch = "--- a/w.py\n+++ b/w.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
    result = RepairResult(status="verified", message="verified fix", patch=patch,
                          candidates=[Candidate(round=1, diff=patch, patch=patch,
                                                    status=Status.VERIFIED)])

    class NoModel:  # a verified result asks the model to distil; this one cannot answer
        name = "none"

        def complete(self, messages, n=1):
            raise ConnectionError("no model here")

    assert learn(store, NoModel(), result, "r", "task", {"t::x": "E ValueError"}, "", []) \
        is None
    assert len(warnings) == 1 and "not recorded" in warnings[0] and "log.jsonl" in warnings[0]
    assert result.patch == patch and result.verified


def test_reindex_rebuilds_an_index_chromadb_cannot_open(tmp_path):
    """`memory reindex` is the repair: over a chroma folder that is not a database (or not a
    folder), it builds the index anew from the log, and vector search finds the records."""
    path = tmp_path / "m"
    eps = [episode(i) for i in range(3)]
    MemoryStore(path).put_many(eps)
    log = (path / "log.jsonl").read_bytes()
    for damage in ("sqlite", "file"):
        if damage == "sqlite":
            (path / "chroma" / "chroma.sqlite3").write_bytes(b"not a database" * 100)
        else:
            shutil.rmtree(path / "chroma")
            (path / "chroma").write_text("x")
        warnings: list[str] = []
        store = MemoryStore(path, warn=warnings.append)
        assert store.reindex() == 3
        assert [w for w in warnings if "built anew from the log" in w], warnings
        assert (path / "log.jsonl").read_bytes() == log
        hits = MemoryStore(path).vector_search("episode", eps[1].task, 3)
        assert {h for h, _ in hits} == {e.id for e in eps}
