"""Localization: what the model is shown, on real git repos; `patchlore localize` end to end;
edits to any text file; the cached index; model-guided localization over real HTTP."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import git, make_repo, run_cli
from patchlore.propose.edits import Edit, RepoFiles, edits_to_diff
from patchlore.localize.localize import localize_repo
from stub_llm import StubLLM

PRICING = '''"""Prices."""

TAX = 0.2


class Cart:
    """A cart of items."""

    def __init__(self):
        self.items = []

    def add(self, name, price):
        self.items.append((name, price))

    def subtotal(self):
        return sum(p for _, p in self.items)

    def apply_discount(self, percent):
        return self.subtotal() * (1 + percent / 100)


def total(cart):
    return cart.subtotal() * (1 + TAX)
'''
SHIPPING = '''def shipping_cost(weight):
    if weight > 10:
        return 15
    return 5


def delivery_days(zone):
    return {"eu": 3, "us": 7}.get(zone, 14)
'''
FILES = {
    "shop/__init__.py": "",
    "shop/pricing.py": PRICING,
    "shop/shipping.py": SHIPPING,
    "docs/discounts.md": "# Discounts\n\napply_discount gives a percent off the subtotal.\n" * 3,
    "tests/test_pricing.py": "from shop.pricing import Cart\n\n\ndef test_discount():\n"
                             "    c = Cart()\n    c.add('a', 100)\n"
                             "    assert c.apply_discount(10) == 90\n",
}
ISSUE = "Cart.apply_discount adds the percentage instead of taking it off: 10% of 100 gives 110."


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "shop", FILES)


def _lines(repo: Path, s: dict) -> str:
    text = (repo / s["path"]).read_text().splitlines(keepends=True)
    return "".join(text[s["start_line"] - 1:s["end_line"]])


def test_cli_json_shape_and_line_ranges_match_the_file(shop):
    done = run_cli("localize", "--repo", str(shop), "--issue", ISSUE, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert list(data) == ["snippets", "recalled"] and data["recalled"] == []  # memory empty
    assert data["snippets"], "nothing shown"
    for s in data["snippets"]:
        assert list(s) == ["path", "start_line", "end_line", "chars", "why"]
        assert isinstance(s["path"], str) and isinstance(s["why"], str) and s["why"]
        assert 1 <= s["start_line"] <= s["end_line"]
        assert len(_lines(shop, s)) == s["chars"]
    # the method the issue names is shown, line for line, and the docs are not (not asked)
    method = PRICING.splitlines().index("    def apply_discount(self, percent):") + 1
    assert any(s["path"] == "shop/pricing.py" and s["start_line"] <= method <= s["end_line"]
               for s in data["snippets"])
    assert not any(s["path"].startswith("docs/") for s in data["snippets"])


def test_cli_people_output_and_bad_input(shop, tmp_path):
    done = run_cli("localize", "--repo", str(shop), "--issue", ISSUE)
    assert done.returncode == 0, done.stderr
    assert "shop/pricing.py" in done.stdout and "apply_discount" in done.stdout
    nothing = run_cli("localize", "--repo", str(shop))
    assert nothing.returncode == 2 and nothing.stderr.startswith("error: nothing to localize")
    both = run_cli("localize", "--repo", str(shop), "--issue", "x", "--issue-file", "f.md")
    assert both.returncode == 2 and "error:" in both.stderr and "Traceback" not in both.stderr
    gone = run_cli("localize", "--repo", str(shop), "--issue-file", str(tmp_path / "no.md"))
    assert gone.returncode == 2 and "no.md" in gone.stderr and "Traceback" not in gone.stderr


def test_the_whole_budget_is_used_and_never_exceeded(shop):
    for name in ("a", "b", "c"):
        (shop / f"shop/more_{name}.py").write_text("".join(
            f"def cart_helper_{name}{i}(cart):\n    return cart.subtotal() + {i}\n\n\n"
            for i in range(200)))
    snippets = localize_repo(shop, task=ISSUE, budget_tokens=2000)
    used = sum(len(s.text) for s in snippets)
    assert 2000 * 4 * 0.9 <= used <= 2000 * 4


def _big_module(functions: int = 3000) -> str:
    return "".join(f"def handler_{i}(value):\n    '''Handle case {i}.'''\n"
                   f"    result = value * {i} + {i % 7}\n    return result\n\n\n"
                   for i in range(functions))


def test_traceback_frame_in_a_300_kb_file_shows_that_function(shop):
    big = _big_module()
    assert len(big) > 300_000
    (shop / "shop/handlers.py").write_text(big)
    line = big.splitlines().index("def handler_2345(value):") + 3
    traceback = ('Traceback (most recent call last):\n'
                 '  File "/usr/lib/python3/site-packages/shop/handlers.py", '
                 f'line {line}, in handler_2345\n    result = value * 2345 + 0\n'
                 "TypeError: unsupported operand type(s) for *: 'NoneType' and 'int'\n")
    snippets = localize_repo(shop, task="handler crashes\n" + traceback, budget_tokens=3000)
    mine = [s for s in snippets if s.path == "shop/handlers.py"]
    assert any(s.kind != "outline" and s.start_line <= line <= s.end_line
               and "def handler_2345(value):" in s.text for s in mine), mine
    outline = [s for s in mine if s.kind == "outline"]
    assert outline and f"{line - 2}: def handler_2345(value):" in outline[0].text


def test_an_edit_to_a_large_file_that_was_not_shown_applies(shop):
    data = "".join(f"row {i}: {'x' * 60}\n" for i in range(4000))  # 280 KB, no known suffix
    (shop / "shop/table.dat").write_text(data)
    (shop / "shop/big.py").write_text(_big_module(2500))
    git(shop, "add", "-A")
    git(shop, "commit", "-qm", "large files")
    shown = {s.path for s in localize_repo(shop, task=ISSUE, budget_tokens=1000)}
    assert "shop/table.dat" not in shown and "shop/big.py" not in shown
    files = RepoFiles(shop, git(shop, "ls-files").split())
    diff, problems = edits_to_diff([
        Edit("shop/table.dat", "row 3999: " + "x" * 60 + "\n", "row 3999: changed\n"),
        Edit("shop/big.py", "    return result\n\n\ndef handler_2499(value):\n",
             "    return result\n\n\ndef handler_2499(value):  # checked\n")], files.get)
    assert problems == []
    subprocess.run(["git", "apply"], input=diff, text=True, cwd=shop, check=True)
    assert (shop / "shop/table.dat").read_text().endswith("row 3999: changed\n")
    assert "def handler_2499(value):  # checked\n" in (shop / "shop/big.py").read_text()


def test_edits_still_refuse_what_is_not_a_repo_text_file(shop):
    (shop / "shop/logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    files = RepoFiles(shop, git(shop, "ls-files", "-co", "--exclude-standard").split())
    _, problems = edits_to_diff([Edit("shop/logo.png", "PNG", "JPG"),
                                 Edit("../outside.py", "a", "b"),
                                 Edit("shop/nothere.py", "a", "b")], files.get)
    assert len(problems) == 3


def test_index_is_cached_per_repo_state_and_follows_changes(shop, tmp_path):
    from patchlore.localize import index as ix

    files = git(shop, "ls-files").split()
    first = ix.load_or_build(shop, files)
    again = ix.load_or_build(shop, files)
    assert again.key == first.key and again is not first  # loaded from disk
    assert (ix.cache_root() / "index" / first.key).is_dir()
    assert [c.name for c in again.chunks] == [c.name for c in first.chunks]
    # an uncommitted change is a new state: the new function is found
    (shop / "shop/shipping.py").write_text(SHIPPING + "\n\ndef customs_fee(country):\n"
                                           "    return 0\n")
    snippets = localize_repo(shop, task="customs_fee ignores the country", budget_tokens=500)
    assert any("def customs_fee" in s.text for s in snippets)
    assert ix.state(shop, files)[0] != first.key


def test_failing_test_functions_are_shown_and_guide_the_search(shop):
    snippets = localize_repo(shop, failing_tests=["tests/test_pricing.py::test_discount"],
                             traceback="tests/test_pricing.py:7: AssertionError",
                             budget_tokens=1000)
    kinds = {(s.path, s.kind) for s in snippets}
    assert ("tests/test_pricing.py", "test") in kinds or \
           ("tests/test_pricing.py", "traceback") in kinds
    assert any(s.path == "shop/pricing.py" and "def apply_discount" in s.text for s in snippets)


GUIDED = """Looking at the map, the discount is computed in the cart.

```
shop/shipping.py
function: delivery_days

nowhere/ghost.py
function: apply_discount

shop/pricing.py
method: Cart.total_with_tax
```"""


def test_model_guided_localization_shows_what_the_model_names(shop):
    with StubLLM([[GUIDED]]) as stub:
        from patchlore.llm.model import LitellmModel

        model = LitellmModel("hosted_vllm/stub-coder", api_base=stub.api_base, retries=0)
        replies = []
        snippets = localize_repo(shop, task="Prices look wrong", budget_tokens=400,
                                 model=model, on_reply=replies.append)
    assert len(stub.requests) == 1 and len(replies) == 1
    prompt = stub.requests[0]["messages"][1]["content"]
    assert "shop/pricing.py: Cart, total" in prompt  # the repo map: paths and definitions
    named = [s for s in snippets if s.kind == "model"]
    assert [(s.path, s.text.splitlines()[0]) for s in named] == [
        ("shop/shipping.py", "def delivery_days(zone):")]
    assert not any(s.path.startswith("nowhere/") for s in snippets)


SHIPPING_FIX = ("diff --git a/shop/shipping.py b/shop/shipping.py\n--- a/shop/shipping.py\n"
                "+++ b/shop/shipping.py\n@@ -6,3 +6,3 @@\n \n def delivery_days(zone):\n"
                "-    return {\"eu\": 3, \"us\": 7}.get(zone, 15)\n"
                "+    return {\"eu\": 3, \"us\": 7}.get(zone, 14)\n")


def test_recalled_repairs_point_localization_at_what_they_changed(shop):
    """A similar repair from memory changed delivery_days: the search alone never shows it
    for this issue; with the repair recalled it is shown (kind memory), within its share."""
    task = "Cart.subtotal and total(cart) with TAX give the wrong sum"
    alone = localize_repo(shop, task=task, budget_tokens=150)
    assert not any("def delivery_days" in s.text for s in alone)
    gone = SHIPPING_FIX.replace("shop/shipping.py", "shop/gone.py")  # a file the repo lost
    guided = localize_repo(shop, task=task, budget_tokens=150,
                           recalled=[("ep-1", gone), ("ep-2", SHIPPING_FIX)])
    mine = [s for s in guided if s.kind == "memory"]
    assert [(s.path, s.text.splitlines()[0]) for s in mine] == [
        ("shop/shipping.py", "def delivery_days(zone):")]
    assert "ep-2" in mine[0].why
    assert len(mine[0].text) <= 150 * 4 // 4


def test_cli_localize_uses_memory_as_fix_does(shop, tmp_path):
    """A verified repair in the store (real chromadb on disk) that changed delivery_days, for
    a similar issue: `patchlore localize` recalls it and shows that function, as `fix`'s
    loop does; with --memory-mode off it does not, and the store is only read."""
    from patchlore.memory.schema import VERIFIED, Episode
    from patchlore.memory.signature import Signature
    from patchlore.memory.store import MemoryStore

    task = "Cart.subtotal and total(cart) with TAX give the wrong sum"
    store = MemoryStore(tmp_path / "mem")
    store.put(Episode(repo="shop", task="total(cart) with TAX gives the wrong sum for eu",
                      signature=Signature("", "", []), diff=SHIPPING_FIX, outcome=VERIFIED,
                      files=["shop/shipping.py"]))
    (ep,) = store.episodes()
    log = (tmp_path / "mem" / "log.jsonl").read_bytes()
    args = ("localize", "--repo", str(shop), "--issue", task, "--budget", "150", "--json",
            "--memory", str(tmp_path / "mem"))
    for mode, recalled in (("read", True), ("online", True), ("off", False)):
        done = run_cli(*args, "--memory-mode", mode)
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        mine = [s for s in data["snippets"] if s["why"].startswith("memory:")]
        assert data["recalled"] == ([ep.id] if recalled else [])
        assert [(s["path"], s["why"]) for s in mine] == (
            [("shop/shipping.py", f"memory: a similar repair ({ep.id}) changed delivery_days")]
            if recalled else [])
    assert (tmp_path / "mem" / "log.jsonl").read_bytes() == log
    people = run_cli(*args[:-3], "--memory", str(tmp_path / "mem"))
    assert "recalled from memory: 1 similar repair(s)" in people.stderr, people.stderr


def test_a_garbage_model_answer_falls_back_to_search(shop):
    plain = localize_repo(shop, task=ISSUE, budget_tokens=400)
    with StubLLM([["I think it is somewhere in the code, good luck!"]]) as stub:
        from patchlore.llm.model import LitellmModel

        model = LitellmModel("hosted_vllm/stub-coder", api_base=stub.api_base, retries=0)
        guided = localize_repo(shop, task=ISSUE, budget_tokens=400, model=model)
    assert len(stub.requests) == 1
    assert [(s.path, s.start_line, s.end_line) for s in guided] == \
           [(s.path, s.start_line, s.end_line) for s in plain]


TABLE = "OFFSET = 1\n" + "".join(f"ROW_{i} = {i}  # {'.' * 50}\n" for i in range(4000))
ADDER = {"adder.py": "from table import OFFSET\n\n\ndef add(a, b):\n    return a + b + OFFSET\n",
         "table.py": TABLE,
         "test_adder.py": "from adder import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"}


def test_the_loop_verifies_an_edit_to_a_file_over_200_kb_it_never_showed(tmp_path):
    from loopkit import edit, run_repair

    assert len(TABLE) > 200_000
    repo = make_repo(tmp_path / "adder", ADDER)
    ran = run_repair(repo, tmp_path / "work", [[edit("table.py", "OFFSET = 1\n", "OFFSET = 0\n")]],
                     context_tokens=300)
    prompt = ran.kinds("prompt")[-1]["messages"][1]["content"]
    assert "OFFSET = 1\n" not in prompt  # table.py's first line was never shown
    assert ran.result.status == "verified", ran.result.message
    assert "-OFFSET = 1\n+OFFSET = 0\n" in ran.result.patch


def test_the_loop_asks_the_model_where_to_look_when_guided(tmp_path):
    from loopkit import edit, run_repair

    repo = make_repo(tmp_path / "shop", {**FILES, "test_cart.py": (
        "from shop.pricing import Cart\n\n\ndef test_discount():\n    c = Cart()\n"
        "    c.add('a', 100)\n    assert c.apply_discount(10) == 90\n")})
    fix = edit("shop/pricing.py", "        return self.subtotal() * (1 + percent / 100)\n",
               "        return self.subtotal() * (1 - percent / 100)\n")
    ran = run_repair(repo, tmp_path / "work", [["shop/shipping.py\nfunction: delivery_days\n"],
                                               [fix]], guided_localize=True,
                     context_tokens=600)
    assert ran.result.status == "verified", ran.result.message
    assert ran.result.usage.calls == 2
    assert [e.get("step") for e in ran.kinds("model_reply")] == ["localize", None]
    prompt = ran.kinds("prompt")[-1]["messages"][1]["content"]
    assert "named by the model" in prompt and "def delivery_days(zone):" in prompt


def test_model_answers_in_other_common_shapes_are_understood():
    from patchlore.localize.guided import parse_locations

    known = {"shop/pricing.py", "shop/shipping.py", "shop/__init__.py"}
    answer = ("The bug:\n- `shop/pricing.py: Cart.apply_discount, total`\n"
              "shop/shipping.py::delivery_days\nlib/elsewhere.py: apply_discount\n"
              "shop/__init__.py is imported everywhere\n")
    assert parse_locations(answer, known) == [
        ("shop/pricing.py", ["Cart.apply_discount", "total"]),
        ("shop/shipping.py", ["delivery_days"]), ("shop/__init__.py", [])]


@pytest.mark.docker
def test_cli_with_test_cmd_localizes_from_the_failing_tests(docker_ready, calc_repo):
    done = run_cli("localize", "--repo", str(calc_repo), "--test-cmd", "python3 -m pytest -q",
                   "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    shown = {(s["path"], s["why"].split(":")[0]) for s in json.loads(done.stdout)["snippets"]}
    # the failing test's traceback leads to its file, and its call of add() to calc.py
    assert ("test_calc.py", "whole file") in shown
    assert any(path == "calc.py" for path, _ in shown)


# Issue 19: a repo with little or no code localizes to what there is and goes on. bm25s cannot
# index a corpus without a word (`max() arg is an empty sequence`), nor search an empty index.
ONE_LETTER = "def f():\n    return 1\n"
LITTLE = {  # case: (files, committed, the files shown)
    "one-chunk-no-searchable-word": ({"a.py": ONE_LETTER}, True, ["a.py"]),
    "all-stop-words": ({"a.py": "def a(self):\n    return None\n"}, True, ["a.py"]),
    "one-chunk-with-words": ({"mod.py": ONE_LETTER}, True, ["mod.py"]),
    "no-commits": ({"a.py": ONE_LETTER}, False, ["a.py"]),
    "no-source-files": ({"data.bin": "x\n"}, True, []),
    "only-non-python": ({"app.js": "function f() { return 1 }\n"}, True, ["app.js"]),
    "empty-repo": ({}, False, []),
}


@pytest.mark.parametrize("case", sorted(LITTLE))
def test_a_repo_with_little_or_no_code_localizes_to_what_there_is(case, tmp_path):
    files, committed, shown = LITTLE[case]
    repo = make_repo(tmp_path / "r", files, commit=committed)
    for _ in range(2):  # built, then from the on-disk cache
        res = run_cli("localize", "--repo", str(repo), "--issue", "f returns the wrong value",
                      "--json")
        assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
        assert sorted({s["path"] for s in json.loads(res.stdout)["snippets"]}) == shown


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "no-commits"])
def test_fix_goes_on_in_a_repo_whose_code_has_no_searchable_word(committed, tmp_path):
    from loopkit import TEST_CMD, edit, replay_file

    repo = make_repo(tmp_path / "r", {"a.py": ONE_LETTER, "test_a.py":
                                      "from a import f\n\n\ndef test_f():\n    assert f() == 2\n"},
                     commit=committed)
    replay = replay_file(tmp_path / "replay.jsonl", [[edit("a.py", "    return 1\n",
                                                             "    return 2\n")]])
    res = run_cli("fix", "--repo", str(repo), "--sandbox", "local", "--model", f"replay:{replay}",
                  "--samples", "1", "--rounds", "1", "--memory-mode", "off", "--test-cmd",
                  TEST_CMD)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert "+    return 2" in res.stdout
