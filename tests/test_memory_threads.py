"""One MemoryStore shared by threads (as `eval run` shares it across its workers) while another
process and another thread append to the same log: nothing skipped, nothing parsed mid-line."""

from __future__ import annotations

import subprocess
import sys
import threading

from patchlore.memory.retrieve import recall
from patchlore.memory.schema import VERIFIED, Episode, Signature
from patchlore.memory.store import MemoryStore

WRITER = """
import sys
from patchlore.memory.schema import Episode, Signature
from patchlore.memory.store import MemoryStore
store = MemoryStore(sys.argv[1])
for i in range(int(sys.argv[2])):
    store.put(Episode(repo="proc", task=f"process bug {i} " + "x" * 3000, signature=Signature(),
                      diff=f"+p{i}", outcome="verified", created=float(i)))
"""


def test_threads_reading_while_the_log_grows_miss_nothing(tmp_path):
    path = tmp_path / "m"
    shared = MemoryStore(path)
    n_proc, n_thread = 60, 60
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        seen = 0
        try:
            while not done.is_set():
                eps = shared.episodes()
                assert len(eps) >= seen  # an append-only log never shrinks
                seen = len(eps)
                recall(shared, "process bug 7")
                shared.get("ep-none")
        except BaseException as exc:  # noqa: BLE001 (the test reports whatever broke)
            errors.append(exc)

    def thread_writer() -> None:
        other = MemoryStore(path)  # a second store object in this process, as a worker may open
        for i in range(n_thread):
            other.put(Episode(repo="thread", task=f"thread bug {i}", signature=Signature(),
                              diff=f"+t{i}", outcome=VERIFIED, created=float(i)))

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so a race shows within a short test
    try:
        readers = [threading.Thread(target=reader) for _ in range(4)]
        for t in readers:
            t.start()
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(n_proc)],
                                stderr=subprocess.PIPE, text=True)
        writer = threading.Thread(target=thread_writer)
        writer.start()
        writer.join()
        _, err = proc.communicate(timeout=300)
        done.set()
        for t in readers:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert proc.returncode == 0, err
    assert not errors, repr(errors[0])
    eps = shared.episodes()
    assert sorted(e.task.split(" ")[0] for e in eps).count("process") == n_proc
    assert len(eps) == n_proc + n_thread
    assert shared.stats()["episodes"] == n_proc + n_thread
    fresh = MemoryStore(path)
    assert {e.id for e in fresh.episodes()} == {e.id for e in eps}


def test_eval_run_workers_learn_into_one_store(mirrors, tmp_path):
    """`eval run --workers 3 --memory-mode online`: three instances repaired at once by worker
    threads sharing one store, each leaving its episode and its lesson, and nothing else."""
    import json

    from conftest import run_cli
    from patchlore.propose.prompts import DISTILL
    from stub_llm import StubLLM
    from test_eval_run import SCRIPT, eval_args

    module = {"patchlore__chunks-1": "chunks.py", "patchlore__durations-1": "durations.py",
              "patchlore__flatten-1": "nested.py"}

    def answer(body: dict) -> list[str]:  # requests come in any order: route by content
        messages = body["messages"]
        iid = next(i for i, name in module.items() if name in json.dumps(messages))
        if messages[0]["content"] == DISTILL:
            return [json.dumps([{"op": "ADD", "text": f"A lesson from {iid}."}])]
        return [SCRIPT[iid][0 if "reproduce the bug" in messages[-1]["content"] else 1]]

    mem = tmp_path / "memory"
    with StubLLM(answer) as stub:
        res = run_cli(*eval_args(mirrors, tmp_path / "runs", stub, "--run-id", "w3",
                                 "--workers", "3", "--memory-mode", "online",
                                 "--memory", str(mem)), timeout=600)
    assert res.returncode == 0, res.stderr
    assert "memory:" not in res.stderr, res.stderr  # no skipped line, no failed write
    store = MemoryStore(mem)
    assert sorted(e.outcome for e in store.episodes()) == ["verified"] * 3
    assert sorted(i.text for i in store.insights()) == [f"A lesson from {i}." for i in
                                                        sorted(module)]
    assert all(json.loads(ln) for ln in (mem / "log.jsonl").read_text().splitlines())
