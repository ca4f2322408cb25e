"""Opening from the snapshot of the log equals a full replay: the same records in the same
order and the same recall, after appends, forget, import, a torn tail and another process's
writes; a torn or stale snapshot is never trusted, and is rebuilt. Real chromadb on disk."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from patchlore.memory import snapshot
from patchlore.memory.retrieve import recall
from patchlore.memory.schema import Insight, to_dict
from patchlore.memory.store import MemoryStore
from tests.test_memory_store import episode

QUERIES = ["task number 12 widget breaks", "widget 3 bad widget", "ValueError t.py::test_7",
           "check bounds"]


@pytest.fixture(autouse=True)
def snapshot_every_open(monkeypatch):
    monkeypatch.setattr(MemoryStore, "SNAPSHOT_AFTER", 1)


def view(path) -> tuple[list, list]:
    """What an open store holds and recalls."""
    store = MemoryStore(path)
    records = [(rid, to_dict(r)) for rid, r in store.records.items()]
    recalled = []
    for q in QUERIES:
        got = recall(store, q, k_demos=3, k_insights=3, budget_tokens=100_000)
        recalled.append(([d.id for d in got.demos], [i.id for i in got.insights]))
    return records, recalled


def full_replay(path, monkeypatch) -> tuple[list, list]:
    """The same store opened from its log alone (the snapshot moved aside, none written)."""
    snap = path / snapshot.FILE
    aside = path / "snapshot.aside"
    snap.rename(aside)
    with monkeypatch.context() as m:
        m.setattr(MemoryStore, "SNAPSHOT_AFTER", 10**9)
        got = view(path)
    assert not snap.exists()
    aside.rename(snap)
    return got


def assert_snapshot_open_equals_replay(path, monkeypatch, tail: bool):
    snap = snapshot.load(path, path / "log.jsonl")
    assert snap is not None, "the snapshot should be usable"
    size = (path / "log.jsonl").stat().st_size
    assert (snap.offset < size) == tail, (snap.offset, size)
    from_snapshot = view(path)
    assert from_snapshot == full_replay(path, monkeypatch)
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
    snap = snapshot.load(path, path / "log.jsonl")
    assert len(snap.records) == 40  # the open above wrote a fresh one, tail included
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
    assert snapshot.load(path, path / "log.jsonl") is None
    assert len(MemoryStore(path).records) == 20
    assert snapshot.load(path, path / "log.jsonl") is not None  # rebuilt by that open
    assert_snapshot_open_equals_replay(path, monkeypatch, tail=False)


@pytest.mark.parametrize("change", ["edited", "replaced", "truncated"])
def test_a_stale_snapshot_is_rebuilt_never_trusted(tmp_path, monkeypatch, change):
    path = tmp_path / "m"
    log = path / "log.jsonl"
    MemoryStore(path).put_many([episode(i) for i in range(20)])
    MemoryStore(path)
    assert snapshot.load(path, log) is not None
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
    assert snapshot.load(path, log) is None
    store = MemoryStore(path)
    expect = {"edited": 21, "replaced": 25, "truncated": 10}[change]
    assert len(store.records) == expect
    if change == "edited":
        assert "gadget" in store.records[json.loads(lines[3])["id"]].task
    if change == "replaced":
        assert all(r.repo == "elsewhere" for r in store.records.values())
    snap = snapshot.load(path, log)
    assert snap is not None and len(snap.records) == expect  # rebuilt from the log
