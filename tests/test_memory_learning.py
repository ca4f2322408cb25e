"""Memory in the repair loop, through the real CLI, litellm over HTTP to a scripted server,
and a real chromadb store on disk."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import make_repo, run_cli
from patchlore.repair.learn import apply_ops, parse_ops, settle_credit
from patchlore.memory.retrieve import recall
from patchlore.memory.schema import RETIRED, VERIFIED, Episode, Insight, Signature
from patchlore.memory.store import MemoryStore
from stub_llm import StubLLM

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
LESSON = ("When a percentage should reduce an amount, check that it is subtracted "
          "(1 - p/100), not added.")
DISTILLED = json.dumps([{"op": "ADD", "text": LESSON, "when": "discounts, taxes, percentages"}])
FIX_PRICING = """cart.py
<<<<<<< SEARCH
    return round(amount * (1 + percent / 100), 2)
=======
    return round(amount * (1 - percent / 100), 2)
>>>>>>> REPLACE
"""
PAYROLL = {
    "payroll.py": ('def net_pay(gross: float, tax_percent: float) -> float:\n'
                   '    """Gross pay after tax is withheld."""\n'
                   '    return gross * (1 + tax_percent / 100)\n'),
    "test_payroll.py": ("from payroll import net_pay\n\n\ndef test_tax_is_withheld():\n"
                        "    assert net_pay(1000, 20) == 800\n\n\n"
                        "def test_no_tax():\n    assert net_pay(500, 0) == 500\n"),
}
FIX_PAYROLL = """payroll.py
<<<<<<< SEARCH
    return gross * (1 + tax_percent / 100)
=======
    return gross * (1 - tax_percent / 100)
>>>>>>> REPLACE
"""
WRONG = """cart.py
<<<<<<< SEARCH
def subtotal(lines: list[tuple[float, int]]) -> float:
=======
def subtotal(lines: list[tuple[float, int]], unused=None) -> float:
>>>>>>> REPLACE
"""


def copy_example(tmp_path, name: str) -> Path:
    files = {p.name: p.read_text() for p in (EXAMPLES / name).iterdir() if p.is_file()}
    return make_repo(tmp_path / name, files)


def fix(repo, stub, *args):
    return run_cli("fix", "--repo", str(repo), "--model", "hosted_vllm/stub-coder",
                   "--api-base", stub.api_base, "--sandbox", "local", "--samples", "1",
                   "--memory-mode", "online", *args,
                   env={"PATCHLORE_TEST_CMD": "python3 -m pytest -q -p no:cacheprovider"},
                   timeout=300)


def test_a_lesson_from_one_repo_reaches_the_prompt_in_another(tmp_path):
    pricing = copy_example(tmp_path, "pricing")
    with StubLLM([[FIX_PRICING], [DISTILLED]]) as stub:
        first = fix(pricing, stub, "--json")
    assert first.returncode == 0, first.stderr
    payroll = make_repo(tmp_path / "payroll", PAYROLL)
    with StubLLM([[FIX_PAYROLL], ["[]"]]) as stub:
        second = fix(payroll, stub, "--json")
        prompt = stub.requests[0]["messages"][-1]["content"]
    assert second.returncode == 0, second.stderr
    assert LESSON in prompt  # the insight
    assert "Past repair 1 (verified by its tests)" in prompt  # the demonstration
    assert "+    return round(amount * (1 - percent / 100), 2)" in prompt
    # the insight earned credit: it was shown and the attempt was verified
    store = MemoryStore(tmp_path / "memory")
    (ins,) = store.insights()
    assert ins.text == LESSON and ins.helpful == 1 and ins.credit == 3
    assert sorted(e.repo for e in store.episodes()) == ["payroll", "pricing"]


def test_failed_attempts_are_kept_but_never_demonstrated(tmp_path):
    pricing = copy_example(tmp_path, "pricing")
    with StubLLM([[WRONG], [WRONG]]) as stub:
        res = fix(pricing, stub, "--rounds", "2")
        assert len(stub.requests) == 2  # no distillation from a failure
    assert res.returncode == 1
    store = MemoryStore(tmp_path / "memory")
    (ep,) = store.episodes()
    assert ep.outcome == "failed" and "still failing" in ep.reason
    assert recall(store, ep.task).demos == []
    listed = run_cli("memory", "list", "--json")
    assert [r["outcome"] for r in json.loads(listed.stdout)] == ["failed"]


def test_memory_mode_read_recalls_without_writing(tmp_path):
    store = MemoryStore(tmp_path / "memory")
    store.put(Insight(text=LESSON, when="percentages"))
    before = (tmp_path / "memory" / "log.jsonl").read_bytes()
    pricing = copy_example(tmp_path, "pricing")
    with StubLLM([[FIX_PRICING]]) as stub:
        res = fix(pricing, stub, "--memory-mode", "read")
        assert LESSON in stub.requests[0]["messages"][-1]["content"]
        assert len(stub.requests) == 1
    assert res.returncode == 0
    assert (tmp_path / "memory" / "log.jsonl").read_bytes() == before


def test_credit_rises_falls_and_retires(tmp_path):
    store = MemoryStore(tmp_path / "m")
    ins = Insight(text="When a loop skips the last item, check the range end.")
    store.put(ins)
    store.put_many(settle_credit(store, [ins.id], verified=True))
    assert store.get(ins.id).credit == 3
    for _ in range(3):
        store.put_many(settle_credit(store, [ins.id], verified=False))
    assert store.get(ins.id).status == RETIRED and store.get(ins.id).credit == 0
    assert recall(store, "loop skips the last item").insights == []


def test_distillation_ops_are_checked(tmp_path):
    store = MemoryStore(tmp_path / "m")
    old = Insight(text="When X, check Y.")
    store.put(old)
    answer = "Here you go:\n```json\n" + json.dumps([
        {"op": "ADD", "text": "When dividing, guard against zero."},
        {"op": "ADD", "text": "when X, check Y"},  # a duplicate of an existing insight
        {"op": "AGREE", "id": old.id},
        {"op": "EDIT", "id": "in-missing", "text": "ghost"},  # names no insight: dropped
        {"op": "DANCE"},
    ]) + "\n```"
    ops = parse_ops(answer)
    assert [o["op"] for o in ops] == ["ADD", "ADD", "AGREE", "EDIT"]
    changed = apply_ops(store, ops, "ep-1")
    texts = sorted(i.text for i in changed)
    assert texts == ["When X, check Y.", "When dividing, guard against zero."]
    assert next(i for i in changed if i.id == old.id).helpful == 1
    assert parse_ops("no json here") == [] and parse_ops("[not json]") == []


def test_recall_is_small_filtered_and_deduplicated(tmp_path):
    store = MemoryStore(tmp_path / "m")
    sig = Signature("ZeroDivisionError", "division by zero", ["t::test_avg"], ["stats.py:mean"])
    same = dict(signature=sig, outcome=VERIFIED, diff="+    if not xs:\n+        return 0\n")
    store.put_many([
        Episode(repo="a", task="mean of an empty list crashes", created=1, **same),
        Episode(repo="b", task="mean of an empty list crashes again", created=2, **same),
        Episode(repo="c", task="average of no numbers divides by zero", signature=sig,
                outcome=VERIFIED, diff="+    return sum(xs) / max(len(xs), 1)\n", created=3),
        Episode(repo="d", task="average of no numbers divides by zero", signature=sig,
                outcome="failed", diff="+    pass\n", created=4),
        *[Episode(repo="z", task=f"unrelated parser bug {i}", signature=Signature(),
                  outcome=VERIFIED, diff=f"+p{i}\n", created=10 + i) for i in range(30)],
    ])
    found = recall(store, "ZeroDivisionError division by zero in mean of empty list")
    assert len(found.demos) == 2
    assert {d.repo for d in found.demos} <= {"a", "b", "c"}
    assert len({d.diff for d in found.demos}) == 2  # identical fixes are not shown twice
    only_c = recall(store, "division by zero", repo="c")
    assert [d.repo for d in only_c.demos] == ["c"]


def test_practice_episodes_never_crowd_out_real_ones(tmp_path):
    """Practice episodes match their query best here (it is their own symptom), yet the real
    verified repair comes first; a practice one fills the slot left."""
    from patchlore.memory.schema import PRACTICE

    store = MemoryStore(tmp_path / "m")
    sig = Signature("AssertionError", "assert 2 == 3", ["t::test_add"], ["calc.py:add"])
    store.put_many([
        *[Episode(repo="calc", task=f"failing tests: test_calc.py::test_add assert {i} == 3 "
                  "in add", signature=sig, outcome=VERIFIED, diff=f"+    return a + b  # {i}\n",
                  source=PRACTICE, created=i) for i in range(5)],
        Episode(repo="calc", task="sums come out wrong", signature=Signature(),
                outcome=VERIFIED, diff="+    return a + b\n", source="fix", created=10),
    ])
    query = "failing tests: test_calc.py::test_add assert 2 == 3 in add"
    found = recall(store, query, k_demos=2)
    assert [d.source for d in found.demos] == ["fix", PRACTICE]


def test_the_loop_looks_where_recalled_repairs_changed_code(tmp_path):
    """A verified practice episode recalled for this failure changed rates.rate: the loop's
    localization shows that function (labelled so in the prompt); with no memory it is not
    labelled."""
    from loopkit import edit, run_repair
    from patchlore.memory.schema import PRACTICE

    files = {**PAYROLL, "rates.py": "def rate(kind):\n    return {\"low\": 10}.get(kind, 20)\n"}
    repo = make_repo(tmp_path / "payroll", files)
    store = MemoryStore(tmp_path / "memory")
    store.put(Episode(
        repo="payroll", task="failing tests: test_payroll.py::test_tax_is_withheld",
        signature=Signature("AssertionError", "assert 1200.0 == 800", [
            "test_payroll.py::test_tax_is_withheld"]), outcome=VERIFIED, source=PRACTICE,
        diff="diff --git a/rates.py b/rates.py\n--- a/rates.py\n+++ b/rates.py\n"
             "@@ -1,2 +1,2 @@\n def rate(kind):\n-    return {\"low\": 10}.get(kind, 21)\n"
             "+    return {\"low\": 10}.get(kind, 20)\n", files=["rates.py"]))
    fix_it = edit("payroll.py", "    return gross * (1 + tax_percent / 100)\n",
                  "    return gross * (1 - tax_percent / 100)\n")
    for memory, label in ((store, True), (None, False)):
        ran = run_repair(repo, tmp_path / f"w{label}", [[fix_it]], memory=memory,
                         memory_mode="read" if memory else "off")
        assert ran.result.status == "verified", ran.result.message
        (where,) = ran.kinds("localize")
        why = [w for _, w in where["files"] if w.startswith("memory:")]
        prompt = ran.kinds("prompt")[-1]["messages"][1]["content"]
        assert bool(why) is label and ("a similar past repair changed it" in prompt) is label
        if label:
            assert why == [f"memory: a similar repair ({store.episodes()[0].id}) changed rate"]


def test_planted_secrets_never_reach_store_export_or_trajectory(tmp_path):
    secret, password = "ghp_Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8", "correct-horse-battery"
    pricing = copy_example(tmp_path, "pricing")
    (pricing / "cart.py").write_text((pricing / "cart.py").read_text() +
                                     f'\nGITHUB_TOKEN = "{secret}"\n'
                                     f'DB = "postgres://app:{password}@db.internal/shop"\n')
    with StubLLM([[FIX_PRICING], [DISTILLED]]) as stub:
        res = fix(pricing, stub, "--json", "--issue",
                  f"discount wrong; my token is {secret}, db password {password}")
        assert secret in json.dumps(stub.requests[0])  # the model saw the code as it is
    assert res.returncode == 0, res.stderr
    run_dir = Path(json.loads(res.stdout)["run_dir"])
    exported = tmp_path / "export.jsonl"
    assert run_cli("memory", "export", str(exported)).returncode == 0
    files = [*(tmp_path / "memory").rglob("*"), exported, *run_dir.rglob("*")]
    checked = 0
    for p in files:
        if p.is_file() and p.name not in ("patch.diff",) and "backup" not in p.parts:
            data = p.read_bytes()
            assert secret.encode() not in data and password.encode() not in data, p
            checked += 1
    assert checked >= 4 and (run_dir / "trajectory.jsonl").is_file()


def test_merge_combines_duplicates_and_keeps_their_record(tmp_path):
    store = MemoryStore(tmp_path / "m")
    a = Insight(text="When dividing, check for zero.", supports=["ep-a"], helpful=2)
    b = Insight(text="Guard divisions against empty inputs.", supports=["ep-b"], helpful=1,
                harmful=1)
    store.put_many([a, b])
    ops = parse_ops(json.dumps([{"op": "MERGE", "ids": [a.id, b.id, "in-ghost"],
                                 "text": "Before dividing, handle zero and empty inputs."},
                                {"op": "MERGE", "ids": [a.id], "text": "only one"}]))
    changed = apply_ops(store, ops, "ep-c")
    store.put_many(changed)
    (merged,) = store.insights(active_only=True)
    assert merged.text == "Before dividing, handle zero and empty inputs."
    assert merged.supports == ["ep-a", "ep-b"] and (merged.helpful, merged.harmful) == (3, 1)
    assert {i.status for i in store.insights() if i.id in (a.id, b.id)} == {RETIRED}
