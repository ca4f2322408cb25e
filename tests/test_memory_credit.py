"""Credit for a shown insight is a read-modify-write of one shared record: processes learning
into one store at the same moment (two `patchlore fix` runs, say) must not lose a count."""

from __future__ import annotations

import subprocess
import sys

from patchlore.memory.schema import ACTIVE, Insight
from patchlore.memory.store import MemoryStore

# learn() as `fix` calls it, after a failed attempt that was shown the insight (a failed
# attempt asks no model to distil, so none is needed)
LEARNER = """
import sys
from patchlore.repair.learn import learn
from patchlore.repair.loop import Candidate, RepairResult
from patchlore.memory.store import MemoryStore
path, iid, name, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
store = MemoryStore(path)
print("ready", flush=True)
sys.stdin.readline()  # every learner starts at once
for i in range(n):
    result = RepairResult(status="unverified", message="no verified fix",
                          candidates=[Candidate(round=1, diff="", reason="tests fail")])
    assert learn(store, None, result, "r", f"{name} attempt {i}", {"t::x": "E ValueError"},
                 "", [iid]) is not None
"""


def test_parallel_learners_lose_no_credit(tmp_path):
    path = tmp_path / "m"
    ins = Insight(text="When a loop skips the last item, check the range end.", helpful=100)
    MemoryStore(path).put(ins)  # credit 102: the 60 harmful counts below leave it active
    n_proc, n = 3, 20
    procs = [subprocess.Popen([sys.executable, "-c", LEARNER, str(path), ins.id, f"p{k}", str(n)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for k in range(n_proc)]
    try:
        for p in procs:
            assert p.stdout.readline() == "ready\n", p.communicate()[1]
        for p in procs:
            p.stdin.write("\n")
            p.stdin.flush()
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            assert "memory:" not in err, err  # no failed write, no skipped line
    finally:
        for p in procs:
            p.kill()
    fresh = MemoryStore(path)
    got = fresh.get(ins.id)
    assert (got.helpful, got.harmful, got.status) == (100, n_proc * n, ACTIVE)
    assert len(fresh.episodes()) == n_proc * n
