"""Search/replace blocks and diffs from model answers, matched robustly, reported clearly."""

from __future__ import annotations

import subprocess

from patchlore.propose.edits import Edit, apply_edit, edits_to_diff, parse_answer

SRC = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"


def test_parse_blocks_with_fences_and_decorated_paths():
    text = """I will fix it.

**calc.py**
```python
<<<<<<< SEARCH
    return a - b
=======
    return a + b
>>>>>>> REPLACE
```

`./other.py`
<<<<<<< SEARCH
x = 1
=======
x = 2
>>>>>>> REPLACE
"""
    parsed = parse_answer(text)
    assert [(e.path, e.search, e.replace) for e in parsed.edits] == [
        ("calc.py", "    return a - b\n", "    return a + b\n"),
        ("other.py", "x = 1\n", "x = 2\n"),
    ]


def test_parse_unified_diff_fence():
    text = "```diff\n--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n" \
           "-    return a - b\n+    return a + b\n```\n"
    parsed = parse_answer(text)
    assert not parsed.edits and len(parsed.diffs) == 1 and parsed.diffs[0].startswith("--- a/")


def test_garbage_parses_to_nothing():
    assert parse_answer("Sure! The bug is subtle. Let me think...").empty
    assert parse_answer("```python\nprint('no edit here')\n```").empty


def test_exact_then_whitespace_tolerant_then_reindented():
    new, why = apply_edit(SRC, Edit("calc.py", "    return a - b\n", "    return a + b\n"))
    assert "a + b" in new and not why
    new, why = apply_edit(SRC, Edit("calc.py", "    return a - b   \n", "    return a + b\n"))
    assert "    return a + b\n" in new, why
    # the model dropped the indentation: the replacement is re-indented to fit
    new, why = apply_edit(SRC, Edit("calc.py", "return a - b\n", "if b is None:\n    b = 0\n"
                                                                  "return a + b\n"))
    assert "    if b is None:\n        b = 0\n    return a + b\n" in new, why


def test_problems_say_what_to_do():
    _, why = apply_edit(SRC, Edit("calc.py", "return a ** b\n", "x"))
    assert "not in the file" in why and "closest line in the file is: 'return a * b'" in why
    _, why = apply_edit(SRC, Edit("calc.py", "def add(a, b):\n    return a - b\n"
                                  .replace("add", "zzz"), "x"))
    assert "not in the file" in why
    twice = SRC + SRC
    _, why = apply_edit(twice, Edit("calc.py", "    return a * b", "x"))
    assert "matches 2 places" in why


def test_edits_to_diff_applies_with_git(tmp_path):
    (tmp_path / "calc.py").write_text(SRC)
    files = {"calc.py": SRC}
    diff, problems = edits_to_diff(
        [Edit("calc.py", "    return a - b\n", "    return a + b\n"),
         Edit("new_mod.py", "", "X = 1\n"),
         Edit("missing.py", "foo\n", "bar\n"),
         Edit("../etc/passwd", "", "x")],
        files.get)
    assert len(problems) == 2
    assert "missing.py: no such file" in problems[0] and "relative" in problems[1]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "fix.diff").write_text(diff)
    subprocess.run(["git", "apply", "fix.diff"], cwd=tmp_path, check=True)
    assert "a + b" in (tmp_path / "calc.py").read_text()
    assert (tmp_path / "new_mod.py").read_text() == "X = 1\n"


def test_no_trailing_newline_makes_a_valid_diff(tmp_path):
    src = "a = 1\nb = 2"
    (tmp_path / "m.py").write_text(src)
    diff, problems = edits_to_diff([Edit("m.py", "b = 2", "b = 3")], {"m.py": src}.get)
    assert not problems
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "p.diff").write_text(diff)
    subprocess.run(["git", "apply", "p.diff"], cwd=tmp_path, check=True)
    assert (tmp_path / "m.py").read_text() == "a = 1\nb = 3"
