"""Turning a model's answer into a unified diff.

Two formats are accepted: search/replace blocks (preferred) and unified diffs in ```diff fences.
Search text is matched exactly, then ignoring trailing whitespace, then ignoring indentation
(the replacement is re-indented to fit). Every block that cannot be placed is reported with a
reason the model can act on.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BLOCK = re.compile(
    r"^(?P<path>[^\n<>=]*?)[ \t]*\n(?:```[^\n]*\n)?<{5,9} ?SEARCH[^\n]*\n(?P<search>.*?)^={5,9}[ \t]*\n"
    r"(?P<replace>.*?)^>{5,9} ?REPLACE[^\n]*$",
    re.MULTILINE | re.DOTALL,
)
DIFF_FENCE = re.compile(r"```(?:diff|patch)[^\n]*\n(?P<diff>.*?)^```", re.MULTILINE | re.DOTALL)


class RepoFiles:
    """Every text file of the repo, whatever its size or suffix, read when an edit first names
    it (what is shown is limited, what can be changed is not); plus files added during the
    run that exist only in the sandbox (the reproduction test)."""

    def __init__(self, root: Path, names: list[str]) -> None:
        self.root, self.names = Path(root), set(names)
        self.added: dict[str, str] = {}
        self._read: dict[str, str | None] = {}

    def get(self, path: str) -> str | None:
        if path in self.added:
            return self.added[path]
        if path not in self.names:
            return None
        if path not in self._read:
            from patchlore.localize.index import read_text

            self._read[path] = read_text(self.root, path)
        return self._read[path]

    def __setitem__(self, path: str, text: str) -> None:
        self.added[path] = text


@dataclass
class Edit:
    path: str
    search: str
    replace: str


@dataclass
class Parsed:
    edits: list[Edit] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.edits and not self.diffs


def _clean_path(raw: str) -> str:
    if raw.strip().startswith("```"):
        return ""  # a code fence, not a path
    path = raw.strip().strip("`*'\"").strip()
    path = re.sub(r"^(?:#+\s*|file:\s*|path:\s*)", "", path, flags=re.IGNORECASE).strip()
    return path.removeprefix("./").removeprefix("a/").removeprefix("b/")


def parse_answer(text: str) -> Parsed:
    parsed = Parsed()
    for m in BLOCK.finditer(text):
        parsed.edits.append(Edit(_clean_path(m.group("path")), m.group("search"),
                                 m.group("replace")))
    if not parsed.edits:
        for m in DIFF_FENCE.finditer(text):
            if "\n@@" in m.group("diff") or m.group("diff").startswith("@@"):
                parsed.diffs.append(m.group("diff"))
    return parsed


def _find(lines: list[str], search: list[str], key: Callable[[str], str]) -> list[int]:
    want = [key(s) for s in search]
    n = len(want)
    return [i for i in range(len(lines) - n + 1) if [key(x) for x in lines[i:i + n]] == want]


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def apply_edit(content: str, edit: Edit) -> tuple[str | None, str]:
    """The new content, or None and why the search text could not be placed."""
    if not edit.search.strip():
        if content:
            return None, "the SEARCH part is empty but the file exists; quote the lines to change"
        return edit.replace, ""
    lines = content.splitlines(keepends=True)
    search = edit.search.splitlines(keepends=True)
    replace = edit.replace.splitlines(keepends=True)
    for key in (lambda s: s.rstrip("\n"), lambda s: s.rstrip(), lambda s: s.strip()):
        hits = _find(lines, search, key)
        if len(hits) > 1:
            return None, (f"the SEARCH text matches {len(hits)} places; include more "
                          "surrounding lines so it matches exactly one")
        if len(hits) == 1:
            at = hits[0]
            first = next((i for i, s in enumerate(search) if s.strip()), 0)
            shift_from, shift_to = _indent(search[first]), _indent(lines[at + first])
            fixed = []
            for r in replace:
                if shift_from != shift_to and r.startswith(shift_from):
                    r = shift_to + r[len(shift_from):]
                fixed.append(r if r.endswith("\n") else r + "\n")
            if fixed and not lines[at + len(search) - 1].endswith("\n"):
                fixed[-1] = fixed[-1].removesuffix("\n")  # the file ended without a newline
            return "".join(lines[:at] + fixed + lines[at + len(search):]), ""
    close = difflib.get_close_matches(search[0].strip() if search else "",
                                      [ln.strip() for ln in lines], n=1, cutoff=0.6)
    hint = f"; the closest line in the file is: {close[0]!r}" if close else ""
    return None, f"the SEARCH text is not in the file{hint}. Copy the lines exactly"


def edits_to_diff(edits: list[Edit], read: Callable[[str], str | None]) -> tuple[str, list[str]]:
    """One unified diff for all edits (grouped by file), and a problem per edit that failed."""
    originals: dict[str, str | None] = {}
    current: dict[str, str] = {}
    problems = []
    for edit in edits:
        if not edit.path or edit.path.startswith(("/", "..")) or "/../" in edit.path:
            problems.append(f"{edit.path or '(no path)'}: give a path relative to the repo root")
            continue
        if edit.path not in originals:
            originals[edit.path] = read(edit.path)
            current[edit.path] = originals[edit.path] or ""
        if originals[edit.path] is None and edit.search.strip():
            problems.append(f"{edit.path}: no such file in the repo")
            continue
        new, why = apply_edit(current[edit.path], edit)
        if new is None:
            problems.append(f"{edit.path}: {why}")
        else:
            current[edit.path] = new
    out = []
    for path, new in current.items():
        old = originals[path]
        if old == new or (old is None and not new):
            continue
        for line in difflib.unified_diff(
                (old or "").splitlines(keepends=True), new.splitlines(keepends=True),
                fromfile="/dev/null" if old is None else f"a/{path}", tofile=f"b/{path}"):
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out), problems


def normalize_diff(diff: str) -> str:
    """The changed lines only, trailing spaces dropped: equal for diffs that make one change."""
    return "\n".join(ln.rstrip() for ln in diff.splitlines()
                     if ln[:1] in "+-" and not ln.startswith(("+++", "---")))


def lines_changed(diff: str) -> int:
    from unidiff import PatchSet
    from unidiff.errors import UnidiffParseError

    try:
        return sum(f.added + f.removed for f in PatchSet(diff))
    except UnidiffParseError:
        return 0  # the sandbox's patch tools will say what is wrong with it
