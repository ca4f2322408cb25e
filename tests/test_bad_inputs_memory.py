"""Bad input to memory, as a new user meets it, through the real CLI in a child process: a log
cut mid-write, records of the wrong shape in the log or in an import, a file that is not JSONL,
a read-only memory directory. Each row: the exit code, at most one `error:` line saying what is
wrong, no traceback, and the store still readable, holding what it should, afterwards."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import UNPRIVILEGED, make_repo, run_cli
from patchlore.memory.schema import VERIFIED, Episode, Insight, Signature, to_dict
from patchlore.memory.store import MemoryStore
from stub_llm import StubLLM
from test_memory_learning import FIX_PRICING

PRICING = Path(__file__).resolve().parent.parent / "examples" / "pricing"
FIXED_LINE = "+    return round(amount * (1 - percent / 100), 2)"
SEEDED = 3  # records every case starts with


def seed(mem: Path) -> None:
    MemoryStore(mem).put_many([
        Episode(repo="shop", task=f"discount bug {i}", signature=Signature("AssertionError"),
                diff=f"+fix {i}\n", outcome=VERIFIED, created=float(i)) for i in range(2)
    ] + [Insight(text="When a percentage reduces a price, subtract it.")])


def log_line(kind: str, data: dict, **entry) -> str:
    return json.dumps({"v": 1, "op": "put", "kind": kind, "id": data.get("id", "ep-x"),
                       "data": data, **entry})


def good_episode() -> dict:
    return to_dict(Episode(repo="shop", task="imported", signature=Signature(), diff="+x\n",
                           outcome=VERIFIED, created=5.0))


def append(path: Path, text: str | bytes) -> None:
    with path.open("ab") as fh:
        fh.write(text.encode() if isinstance(text, str) else text)


def torn_tail(mem: Path, tmp: Path) -> None:
    line = log_line("episode", good_episode()) + "\n"
    append(mem / "log.jsonl", line[:len(line) // 2])  # a crash mid-write


def wrong_type_in_log(mem: Path, tmp: Path) -> None:
    append(mem / "log.jsonl", log_line("episode", {**good_episode(), "task": 7}) + "\n")


def newer_schema_in_log(mem: Path, tmp: Path) -> None:
    append(mem / "log.jsonl", log_line("episode", good_episode(), v=9) + "\n")


def import_wrong_types(mem: Path, tmp: Path) -> None:
    bad = {**good_episode(), "signature": {"failing_tests": "t.py::test_x"}}
    (tmp / "in.jsonl").write_text(json.dumps({"kind": "episode", "data": good_episode()}) + "\n"
                                  + json.dumps({"kind": "episode", "data": bad}) + "\n")


def import_wrong_enum(mem: Path, tmp: Path) -> None:
    (tmp / "in.jsonl").write_text(json.dumps(
        {"kind": "insight", "data": {"text": "x", "status": "maybe"}}) + "\n")


def import_binary(mem: Path, tmp: Path) -> None:
    (tmp / "in.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe" * 40)


def import_not_json(mem: Path, tmp: Path) -> None:
    (tmp / "in.jsonl").write_text("id,kind\nep-1,episode\n")


def read_only(mem: Path, tmp: Path) -> None:
    for p in [mem, *mem.rglob("*")]:
        p.chmod(p.stat().st_mode & ~0o222)


def read_only_with_bad_import(mem: Path, tmp: Path) -> None:
    (tmp / "in.jsonl").write_text(json.dumps({"kind": "episode", "data": good_episode()}) + "\n")
    read_only(mem, tmp)


@dataclass
class Case:
    id: str
    damage: Callable[[Path, Path], None]
    args: tuple[str, ...]  # "fix" runs on a fresh copy of examples/pricing with a stub model
    code: int
    says: str  # in stderr: the warning or the error
    records: int  # in the store afterwards
    unprivileged: bool = False  # run where file permissions bind (see conftest.UNPRIVILEGED)


CASES = [
    Case("torn-tail-then-fix", torn_tail, ("fix",), 0, "partial record", SEEDED + 1),
    Case("wrong-type-in-log-then-list", wrong_type_in_log, ("memory", "list", "--json"), 0,
         "log.jsonl:4: skipped, task is int 7, not a string", SEEDED),
    Case("wrong-type-in-log-then-fix", wrong_type_in_log, ("fix",), 0,
         "log.jsonl:4: skipped", SEEDED + 1),
    Case("newer-schema-in-log", newer_schema_in_log, ("memory", "stats"), 0,
         "newer patchlore (schema 9)", SEEDED),
    Case("import-wrong-field-types", import_wrong_types, ("memory", "import", "{tmp}/in.jsonl"),
         2, "in.jsonl:2: not a patchlore memory record: signature: failing_tests is str", SEEDED),
    Case("import-wrong-enum", import_wrong_enum, ("memory", "import", "{tmp}/in.jsonl"), 2,
         "status is 'maybe', not one of active, retired", SEEDED),
    Case("import-binary", import_binary, ("memory", "import", "{tmp}/in.jsonl"), 2,
         "in.jsonl: not a text file; nothing imported", SEEDED),
    Case("import-not-json", import_not_json, ("memory", "import", "{tmp}/in.jsonl"), 2,
         "in.jsonl:1: not a patchlore memory record: not valid JSON (and 1 more", SEEDED),
    Case("read-only-dir-fix-read-mode", read_only, ("fix", "--memory-mode", "read"), 0,
         "recall uses BM25 alone", SEEDED, unprivileged=True),
    Case("read-only-dir-list", read_only, ("memory", "list"), 0, "", SEEDED, unprivileged=True),
    Case("read-only-dir-search", read_only, ("memory", "search", "discount bug"), 0,
         "recall uses BM25 alone", SEEDED, unprivileged=True),
    Case("read-only-dir-fix-online", read_only, ("fix", "--memory-mode", "online"), 2,
         "is not writable (Permission denied)", SEEDED, unprivileged=True),
    Case("read-only-dir-import", read_only_with_bad_import,
         ("memory", "import", "{tmp}/in.jsonl"), 2, "is not writable", SEEDED,
         unprivileged=True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_memory_input(case: Case, tmp_path):
    mem = tmp_path / "memory"  # the autouse fixture points PATCHLORE_MEMORY_DIR here
    seed(mem)
    case.damage(mem, tmp_path)
    before = {p: p.read_bytes() for p in mem.rglob("*") if p.is_file()}
    args = [a.replace("{tmp}", str(tmp_path)) for a in case.args]
    prefix = UNPRIVILEGED if case.unprivileged else ()
    with StubLLM([[FIX_PRICING]]) as stub:
        if args[0] == "fix":
            repo = make_repo(tmp_path / "pricing", {p.name: p.read_text()
                                                    for p in PRICING.iterdir() if p.is_file()})
            args += ["--repo", str(repo), "--model", "hosted_vllm/stub-coder", "--api-base",
                     stub.api_base, "--sandbox", "local", "--samples", "1"]
        res = run_cli(*args, prefix=prefix, timeout=300,
                      env={"PATCHLORE_TEST_CMD": "python3 -m pytest -q -p no:cacheprovider"})
        asked = len(stub.requests)
    subprocess.run(["chmod", "-R", "u+w", str(mem)], check=True)
    assert res.returncode == case.code, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert case.says in res.stderr
    if case.says:
        assert res.stderr.count(case.says) == 1, res.stderr  # said once
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == (1 if case.code == 2 else 0), res.stderr
    if case.code == 2:
        after = {p: p.read_bytes() for p in mem.rglob("*") if p.is_file()}
        assert after == before  # refused before writing anything
        assert asked == 0  # and before any work
    if args[0] == "fix" and case.code == 0:
        assert FIXED_LINE in res.stdout  # the verified patch, whatever memory went through
    warnings: list[str] = []
    store = MemoryStore(mem, warn=warnings.append)
    assert len(store.episodes()) + len(store.insights()) == case.records
    store.put(Insight(text="The store still takes a record."))
    assert len(MemoryStore(mem, read_only=True).insights()) == 2
    assert os.access(mem / "log.jsonl", os.R_OK)
