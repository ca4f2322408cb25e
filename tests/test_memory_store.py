"""The memory store on a real chromadb on disk (and a real `chroma run` server): durability,
two writers, reopening, export/import, reindex, redaction."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from patchlore.memory.schema import FAILED, VERIFIED, Episode, Insight, Signature, to_dict
from patchlore.memory.store import MemoryStore, MemoryStoreError

SECRET = "sk-proj-Zx9Qw8Er7Ty6Ui5Op4As3Df2"


def episode(i: int, repo: str = "r", outcome: str = VERIFIED, task: str = "") -> Episode:
    return Episode(repo=repo, task=task or f"task number {i}: widget {i} breaks",
                   signature=Signature("ValueError", "bad widget <num>", [f"t.py::test_{i}"]),
                   diff=f"--- a/w.py\n+++ b/w.py\n@@ -1 +1 @@\n-x = {i}\n+x = {i + 1}\n",
                   outcome=outcome, created=1000.0 + i)


def test_put_get_and_search(tmp_path):
    store = MemoryStore(tmp_path / "m")
    store.put_many([episode(i) for i in range(20)])
    store.put(Insight(text="When a widget breaks, check its bounds.", when="widgets"))
    assert len(store.episodes()) == 20 and len(store.insights()) == 1
    target = episode(7)
    hits = store.vector_search("episode", target.text(), 3)
    assert hits[0][0] == target.id and hits[0][1] > 0.99


def test_reopened_in_a_new_process_gives_the_same_results(tmp_path):
    store = MemoryStore(tmp_path / "m")
    store.put_many([episode(i) for i in range(30)])
    query = "task number 12 widget breaks"
    here = [rid for rid, _ in store.vector_search("episode", query, 5)]
    code = (f"from patchlore.memory.store import MemoryStore\n"
            f"s = MemoryStore({str(tmp_path / 'm')!r})\n"
            f"print([r for r, _ in s.vector_search('episode', {query!r}, 5)])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(here)


WRITER = """
import sys
from patchlore.memory.schema import Episode, Signature
from patchlore.memory.store import MemoryStore
store = MemoryStore(sys.argv[1])
name = sys.argv[2]
for i in range(40):
    store.put(Episode(repo=name, task=f"{name} bug {i}", signature=Signature(),
                      diff=f"+{name}{i}", outcome="verified", created=float(i)))
print(len(store.vector_search("episode", f"{name} bug 3", 3)))
"""


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "m")
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, path, name], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for name in ("alpha", "beta")]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    store = MemoryStore(path)
    eps = store.episodes()
    assert len(eps) == 80 and len({e.id for e in eps}) == 80
    lines = (tmp_path / "m" / "log.jsonl").read_text().splitlines()
    assert len(lines) == 80 and all(json.loads(ln)["op"] == "put" for ln in lines)
    for name in ("alpha", "beta"):
        ids = [rid for rid, _ in store.vector_search("episode", f"{name} bug 17", 1)]
        assert store.get(ids[0]).task == f"{name} bug 17"
    assert store._collections()["episode"].count() == 80


def test_a_long_lived_reader_sees_another_process_s_writes(tmp_path):
    reader = MemoryStore(tmp_path / "m")
    reader.put(episode(0))
    assert len(reader.vector_search("episode", "anything", 10)) == 1
    subprocess.run([sys.executable, "-c", WRITER, str(tmp_path / "m"), "gamma"], check=True,
                   capture_output=True)
    hits = reader.vector_search("episode", "gamma bug 5", 1)
    assert reader.get(hits[0][0]).task == "gamma bug 5"


def test_export_import_round_trips_exactly(tmp_path):
    a = MemoryStore(tmp_path / "a")
    a.put_many([episode(i, outcome=FAILED if i % 3 else VERIFIED) for i in range(10)])
    a.put(Insight(text="When X, check Y.", helpful=3, harmful=1, created=5.0, updated=6.0))
    a.export(tmp_path / "a.jsonl")
    b = MemoryStore(tmp_path / "b")
    assert b.import_(tmp_path / "a.jsonl") == 11
    b.export(tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert {r: to_dict(x) for r, x in a.records.items()} == \
        {r: to_dict(x) for r, x in b.records.items()}


def test_reindex_rebuilds_from_the_log(tmp_path):
    store = MemoryStore(tmp_path / "m")
    store.put_many([episode(i) for i in range(10)])
    store.forget(episode(3).id)
    import shutil

    shutil.rmtree(tmp_path / "m" / "chroma")
    fresh = MemoryStore(tmp_path / "m")
    assert fresh.reindex() == 9
    assert fresh._collections()["episode"].count() == 9
    assert fresh.vector_search("episode", episode(5).text(), 1)[0][0] == episode(5).id


def test_secrets_never_reach_the_store_or_the_export(tmp_path):
    store = MemoryStore(tmp_path / "m")
    leaky = episode(1, task=f"OPENAI_API_KEY={SECRET} and https://bob:hunter2hunter@db.local/x")
    leaky.diff += f'+TOKEN = "{SECRET}"\n'
    store.put(leaky)
    store.export(tmp_path / "out.jsonl")
    for p in [*(tmp_path / "m").rglob("*"), tmp_path / "out.jsonl"]:
        if p.is_file():
            data = p.read_bytes()
            assert SECRET.encode() not in data and b"hunter2hunter" not in data, p
    assert "[REDACTED]" in store.get(leaky.id).task


def test_bad_log_lines_are_skipped_with_one_warning_each(tmp_path):
    good = episode(1)
    wrong_type = {**to_dict(episode(2)), "task": 42}
    lines = [json.dumps({"v": 1, "op": "put", "kind": "episode", "id": good.id,
                         "data": to_dict(good)}),
             "not json",
             json.dumps({"v": 99, "op": "put"}),
             json.dumps({"v": 1, "op": "put", "kind": "episode", "id": "ep-2",
                         "data": wrong_type}),
             json.dumps({"v": 1, "op": "put", "kind": "episode", "id": "ep-3",
                         "data": {**to_dict(episode(3)), "outcome": "maybe"}})]
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "log.jsonl").write_text("\n".join(lines) + "\n")
    warnings: list[str] = []
    store = MemoryStore(tmp_path / "m", warn=warnings.append)
    assert [e.id for e in store.episodes()] == [good.id]
    assert store.vector_search("episode", good.task, 3)[0][0] == good.id
    assert len(warnings) == 4, warnings  # once each, however often the store is read
    for n, why in [(2, "not valid JSON"), (3, "newer patchlore (schema 99)"),
                   (4, "task is int 42, not a string"), (5, "outcome is 'maybe'")]:
        assert any(f"log.jsonl:{n}: skipped" in w and why in w for w in warnings), (n, warnings)
    store.put(episode(4))  # a bad line does not stop learning either
    assert len(MemoryStore(tmp_path / "m", read_only=True, warn=warnings.append).episodes()) == 2


READ_ONLY_RECALL = """
import sys
from patchlore.memory.store import MemoryStore
store = MemoryStore(sys.argv[1], read_only=True, warn=print)
print(store.vector_search("episode", "task number 3: widget 3 breaks", 2)[0][0])
"""


def test_a_read_only_recall_changes_no_byte_of_the_store(tmp_path):
    """chromadb rewrites its index files whenever a local client opens and closes, even one
    that only queries: a read-only store gives it a copy, and removes the copy after."""
    from conftest import tree_digest

    store = MemoryStore(tmp_path / "m")
    store.put_many([episode(i) for i in range(5)])
    del store
    before = tree_digest(tmp_path / "m")
    (tmp_path / "tmp").mkdir()
    for _ in range(2):  # each run a new process, as the CLI's commands are
        run = subprocess.run([sys.executable, "-c", READ_ONLY_RECALL, str(tmp_path / "m")],
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "TMPDIR": str(tmp_path / "tmp")})
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == episode(3).id, run.stdout  # chroma answered, not BM25
    after = tree_digest(tmp_path / "m")
    assert {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)} == set()
    assert list((tmp_path / "tmp").iterdir()) == []  # the copy is gone


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_shared_chroma_server(tmp_path):
    chroma = Path(sys.executable).parent / "chroma"
    port = free_port()
    server = subprocess.Popen([str(chroma), "run", "--path", str(tmp_path / "srv"), "--host",
                               "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "chroma run did not start"
                time.sleep(0.2)
        one = MemoryStore(tmp_path / "one", url=url)
        one.put_many([episode(i, repo="one") for i in range(5)])
        two = MemoryStore(tmp_path / "two", url=url)  # another machine's view of the server
        hits = two.vector_search("episode", episode(2, repo="one").text(), 1)
        assert hits[0][0] == episode(2, repo="one").id
        assert two.get(hits[0][0]).task == episode(2, repo="one").task
        from patchlore.memory.retrieve import recall

        assert [d.id for d in recall(two, episode(4).task).demos][:1] == \
            [episode(4, repo="one").id]
    finally:
        server.terminate()
        server.wait(timeout=30)
    with pytest.raises(MemoryStoreError, match="not reachable"):
        MemoryStore(tmp_path / "three", url=url)
