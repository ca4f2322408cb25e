"""Opening from the snapshot of the log, and recalling through the BM25 index saved for it,
equals a full replay with a BM25 index built afresh: the same records in the same order and the
same recall, after appends, forget, import, a torn tail and another process's writes; a torn or
stale snapshot or index is never trusted, and is rebuilt. Real chromadb and bm25s on disk."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from patchlore.memory import lexical, snapshot
from patchlore.memory.retrieve import recall
from patchlore.memory.schema import Insight, to_dict
from patchlore.memory.store import MemoryStore
from tests.test_memory_store import episode

QUERIES = ["task number 12 widget breaks", "widget 3 bad widget", "ValueError t.py::test_7",
           "check bounds"]


def snap_of(path) -> snapshot.Snapshot | None:
    """The snapshot an open would use, or None."""
    got = snapshot.load(path, path / "log.jsonl")
    if got is None:
        return None
    got[1].close()
    return got[0]


@pytest.fixture(autouse=True)
def snapshot_every_open(monkeypatch):
    monkeypatch.setattr(MemoryStore, "SNAPSHOT_AFTER", 1)


@pytest.fixture
def builds(monkeypatch) -> list[int]:
    """How many records each BM25 index built in this test held."""
    built, real = [], lexical.Index.build.__func__

    def counting(cls, ids, texts):
        built.append(len(ids))
        return real(cls, ids, texts)

    monkeypatch.setattr(lexical.Index, "build", classmethod(counting))
    return built


def view(path) -> tuple[list, list]:
    """What an open store holds and recalls, as a new process sees it."""
    store = MemoryStore(path)
    records = [(rid, to_dict(r)) for rid, r in store.records.items()]
    recalled = []
    for q in QUERIES:
        got = recall(store, q, k_demos=3, k_insights=3, budget_tokens=100_000)
        recalled.append(([d.id for d in got.demos], [i.id for i in got.insights]))
    return records, recalled


def full_replay(path, monkeypatch) -> tuple[list, list]:
    """The same store opened from its log alone, its BM25 indexes built afresh (the snapshot
    and the saved indexes moved aside, none written)."""
    snap, lex = path / snapshot.FILE, path / lexical.DIR
    snap.rename(path / "snapshot.aside")
    lex.rename(path / "lexical.aside")
    with monkeypatch.context() as m:
        m.setattr(MemoryStore, "SNAPSHOT_AFTER", 10**9)
        m.setattr(lexical, "save", lambda *a: None)
        got = view(path)
    assert not snap.exists() and not lex.exists()
    (path / "snapshot.aside").rename(snap)
    (path / "lexical.aside").rename(lex)
    return got


def assert_snapshot_open_equals_replay(path, monkeypatch, tail: bool):
    snap = snap_of(path)
    assert snap is not None, "the snapshot should be usable"
    size = (path / "log.jsonl").stat().st_size
    assert (snap.offset < size) == tail, (snap.offset, size)
    first = view(path)  # from the snapshot; recall builds its BM25 indexes if the log changed
    built = []
    with monkeypatch.context() as m:  # the next process loads them: it builds none
        real = lexical.Index.build.__func__
        m.setattr(lexical.Index, "build", classmethod(
            lambda cls, ids, texts: built.append(ids) or real(cls, ids, texts)))
        from_snapshot = view(path)
    assert built == [], "the saved BM25 index should have been loaded, not built"
    assert from_snapshot == first == full_replay(path, monkeypatch)
    assert from_snapshot[0], "nothing recorded"
    return from_snapshot


def test_snapshot_open_equals_full_replay_through_the_store_s_life(tmp_path, monkeypatch):
    path = tmp_path / "m"
    store = MemoryStore(path)
    store.put_many([episode(i) for i in range(30)])
    store.put(Insight(text="When a widget breaks, check its bounds.", when="widgets",
                      helpful=2))
    MemoryStore(path)  # this open replays the log and writes the snapshot
    assert_snapshot_open_equals_replay(path, monkeypatch, tail=False)

    # appends and a forget after the snapshot: opening replays them as the tail
    store = MemoryStore(path)
    store.put_many([episode(i) for i in range(30, 40)])
    assert store.forget(episode(12).id)
    records, _ = assert_snapshot_open_equals_replay(path, monkeypatch, tail=True)
    assert episode(12).id not in dict(records)
    snap = snap_of(path)
    assert len(snap.ids) == 40  # the open above wrote a fresh one, tail included
    assert snap.offset == (path / "log.jsonl").stat().st_size

    # a tail that is not yet snapshotted
    with monkeypatch.context() as m:
        m.setattr(MemoryStore, "SNAPSHOT_AFTER", 10**9)
        MemoryStore(path).put_many([episode(i) for i in range(40, 45)])
    assert_snapshot_open_equals_replay(path, monkeypatch, tail=True)

    # import
    dump = tmp_path / "dump.jsonl"
    other = MemoryStore(tmp_path / "other")
    other.put_many([episode(i, repo="imported") for i in range(100, 110)])
    other.export(dump)
    with monkeypatch.context() as m:
        m.setattr(MemoryStore, "SNAPSHOT_AFTER", 10**9)
        assert MemoryStore(path).import_(dump) == 10
    records, _ = assert_snapshot_open_equals_replay(path, monkeypatch, tail=True)
    assert sum(r["repo"] == "imported" for _, r in records if "repo" in r) == 10

    # a torn tail (a write cut short by a crash), repaired by the next write
    with (path / "log.jsonl").open("ab") as fh:
        fh.write(b'{"op": "put", "kind": "episode", "id": "ep-cut')
    assert_snapshot_open_equals_replay(path, monkeypatch, tail=True)
    with monkeypatch.context() as m:
        m.setattr(MemoryStore, "SNAPSHOT_AFTER", 10**9)
        MemoryStore(path).put(episode(200))
    assert (path / "log.torn").exists()
    records, _ = assert_snapshot_open_equals_replay(path, monkeypatch, tail=True)
    assert episode(200).id in dict(records)


WRITER = """
import sys
from patchlore.memory.store import MemoryStore
from tests.test_memory_store import episode
store = MemoryStore(sys.argv[1])
for i in range(50, 70):
    store.put(episode(i, repo="second"))
"""


def test_snapshot_open_equals_replay_after_another_process_writes(tmp_path, monkeypatch):
    path = tmp_path / "m"
    MemoryStore(path).put_many([episode(i) for i in range(20)])
    reader = MemoryStore(path)  # writes the snapshot, then stays open
    with monkeypatch.context() as m:
        m.setattr(MemoryStore, "SNAPSHOT_AFTER", 10**9)
        env_path = str(path)
        out = subprocess.run([sys.executable, "-c", WRITER, env_path], capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
    assert len(reader.episodes()) == 40  # the open store sees them too
    records, _ = assert_snapshot_open_equals_replay(path, monkeypatch, tail=True)
    assert sum(r["repo"] == "second" for _, r in records) == 20


def test_a_torn_snapshot_is_ignored_and_rebuilt(tmp_path, monkeypatch):
    path = tmp_path / "m"
    MemoryStore(path).put_many([episode(i) for i in range(20)])
    MemoryStore(path)
    snap = path / snapshot.FILE
    whole = snap.read_bytes()
    snap.write_bytes(whole[: len(whole) // 2])  # a crash mid-write of an old release
    assert snap_of(path) is None
    assert len(MemoryStore(path).records) == 20
    assert snap_of(path) is not None  # rebuilt by that open
    assert_snapshot_open_equals_replay(path, monkeypatch, tail=False)


@pytest.mark.parametrize("change", ["edited", "replaced", "truncated"])
def test_a_stale_snapshot_is_rebuilt_never_trusted(tmp_path, monkeypatch, change):
    path = tmp_path / "m"
    log = path / "log.jsonl"
    MemoryStore(path).put_many([episode(i) for i in range(20)])
    MemoryStore(path)
    assert snap_of(path) is not None
    lines = log.read_bytes().splitlines(keepends=True)
    if change == "edited":  # one record changed in place, same length, log then appended to
        e = json.loads(lines[3])
        e["data"]["task"] = e["data"]["task"].replace("widget", "gadget")
        lines[3] = (json.dumps(e, sort_keys=True) + "\n").encode()
        log.write_bytes(b"".join(lines))
        with monkeypatch.context() as m:
            m.setattr(MemoryStore, "SNAPSHOT_AFTER", 10**9)
            MemoryStore(path).put(episode(99))
    elif change == "replaced":  # another store's log copied over this one, longer
        other = MemoryStore(tmp_path / "other")
        other.put_many([episode(i, repo="elsewhere") for i in range(25)])
        log.write_bytes((tmp_path / "other" / "log.jsonl").read_bytes())
    else:
        log.write_bytes(b"".join(lines[:10]))
    assert snap_of(path) is None
    store = MemoryStore(path)
    expect = {"edited": 21, "replaced": 25, "truncated": 10}[change]
    assert len(store.records) == expect
    if change == "edited":
        assert "gadget" in store.records[json.loads(lines[3])["id"]].task
    if change == "replaced":
        assert all(r.repo == "elsewhere" for r in store.records.values())
    snap = snap_of(path)
    assert snap is not None and len(snap.ids) == expect  # rebuilt from the log


def test_a_torn_or_stale_bm25_index_is_rebuilt_never_trusted(tmp_path, builds):
    path = tmp_path / "m"
    store = MemoryStore(path)
    store.put_many([episode(i) for i in range(20)])
    lesson = Insight(text="Check the bounds first.", when="an index error", id="in-lesson")
    store.put(lesson)
    fresh = view(path)  # builds the indexes (episodes, insights) and saves them
    assert builds == [20, 1]
    saved = list((path / lexical.DIR).iterdir())
    assert len(saved) == 2
    assert view(path) == fresh and builds == [20, 1]  # loaded, not built
    data = next(p for p in saved if len(json.loads((p / "ids.json").read_text())) == 20)
    npy = next(data.glob("*.npy"))
    npy.write_bytes(npy.read_bytes()[:-8])  # torn: cut short
    assert view(path) == fresh and builds == [20, 1, 20]  # ignored and rebuilt
    assert view(path) == fresh and builds == [20, 1, 20]  # the rebuilt one is loaded

    # stale: the log changed since the indexes were saved, the insight's ids not at all
    store = MemoryStore(path)
    store.put(episode(20))
    assert store.forget(episode(3).id)
    lesson.text = "When a widget breaks, check its bounds."
    store.put(lesson)
    changed = view(path)
    assert builds[3:] == [20, 1]  # 20 episodes (one added, one forgotten), the insight
    assert changed != fresh
    shutil.rmtree(path / lexical.DIR)
    assert view(path) == changed  # the same as indexes built from nothing
    assert len(list((path / lexical.DIR).iterdir())) == 2  # the old ones were dropped
