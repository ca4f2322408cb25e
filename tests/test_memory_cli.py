"""`patchlore memory ...` on a real store: every subcommand, tables and --json."""

from __future__ import annotations

import json

from conftest import run_cli
from patchlore.memory.schema import FAILED, RETIRED, VERIFIED, Episode, Insight, Signature
from patchlore.memory.store import MemoryStore


def seed(path) -> tuple[Episode, Episode, Insight, Insight]:
    store = MemoryStore(path)
    good = Episode(repo="shop", task="discount is added instead of subtracted",
                   signature=Signature("AssertionError", "assert <num> == <num>"),
                   diff="-    return a + b\n+    return a - b\n", outcome=VERIFIED)
    bad = Episode(repo="shop", task="old failure", signature=Signature(), diff="+x\n",
                  outcome=FAILED, created=1.0)
    live = Insight(text="When a percentage reduces a price, subtract it.")
    dead = Insight(text="Always rewrite the whole file.", harmful=2, status=RETIRED)
    store.put_many([good, bad, live, dead])
    return good, bad, live, dead


def test_memory_commands(tmp_path):
    mem = tmp_path / "memory"  # the autouse fixture points PATCHLORE_MEMORY_DIR here
    good, bad, live, dead = seed(mem)
    listed = json.loads(run_cli("memory", "list", "--json").stdout)
    assert {r["id"] for r in listed} == {good.id, bad.id, live.id, dead.id}
    table = run_cli("memory", "list", "--kind", "insights")
    assert live.id in table.stdout and good.id not in table.stdout
    shown = json.loads(run_cli("memory", "show", good.id, "--json").stdout)
    assert shown["diff"] == good.diff and shown["outcome"] == VERIFIED
    found = json.loads(run_cli("memory", "search", "discount added to the price",
                               "--json").stdout)
    assert [r["id"] for r in found] == [good.id, live.id]  # no failure, no retired insight
    stats = json.loads(run_cli("memory", "stats", "--json").stdout)
    assert stats["episodes"] == 2 and stats["verified_episodes"] == 1
    assert stats["active_insights"] == 1 and stats["disk_bytes"] > 0
    assert run_cli("memory", "export", str(tmp_path / "all.jsonl")).returncode == 0
    assert len((tmp_path / "all.jsonl").read_text().splitlines()) == 4
    pruned = run_cli("memory", "prune", "--older-than", "1")
    assert "pruned 2 record(s)" in pruned.stderr  # the retired insight and the old failure
    assert run_cli("memory", "forget", good.id).returncode == 0
    assert run_cli("memory", "reindex").returncode == 0
    left = json.loads(run_cli("memory", "list", "--json").stdout)
    assert [r["id"] for r in left] == [live.id]
    other = tmp_path / "other"
    res = run_cli("memory", "import", str(tmp_path / "all.jsonl"), "--memory", str(other))
    assert res.returncode == 0 and "imported 4" in res.stderr


def test_memory_errors_are_one_line(tmp_path):
    res = run_cli("memory", "show", "ep-nope")
    assert res.returncode == 2 and res.stderr.startswith("error: no memory record")
    res = run_cli("memory", "import", str(tmp_path / "missing.jsonl"))
    assert res.returncode == 2 and "no such file" in res.stderr
    (tmp_path / "junk.jsonl").write_text("{not json\n")
    res = run_cli("memory", "import", str(tmp_path / "junk.jsonl"))
    assert res.returncode == 2 and "junk.jsonl:1" in res.stderr and "Traceback" not in res.stderr
    blocked = tmp_path / "file"
    blocked.write_text("")
    res = run_cli("memory", "stats", "--memory", str(blocked / "m"))
    assert res.returncode == 2 and "memory directory" in res.stderr
