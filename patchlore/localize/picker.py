"""What localization hands on: snippets of the repo's files, each with why and what put it
there, and the picker that takes them within a character budget, never showing a line twice.
The search (localize.py) and the model's picks (guided.py) both take through it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from patchlore.localize.index import read_text


class SnippetKind(StrEnum):
    """What put a snippet in the prompt."""

    TRACEBACK = "traceback"
    TEST = "test"  # a failing test's own code
    SEARCH = "search"
    OUTLINE = "outline"  # a large file's def and class lines, not its code
    MODEL = "model"  # named by the model (guided localization)
    MEMORY = "memory"  # changed by a similar verified repair recalled from memory


@dataclass
class Snippet:
    path: str
    start_line: int  # 1-based, inclusive, of the file as it is in the repo
    end_line: int
    text: str
    why: str  # for people: what put it here
    kind: SnippetKind = SnippetKind.SEARCH

    def to_dict(self) -> dict:
        return {"path": self.path, "start_line": self.start_line, "end_line": self.end_line,
                "chars": len(self.text), "why": self.why}


class Picker:
    """Snippets taken so far, the budget left, and which lines of which file are shown."""

    def __init__(self, root: Path, budget: int, extra: dict[str, str]) -> None:
        self.root, self.budget, self.extra = root, budget, extra
        self.picked: list[Snippet] = []
        self.shown: dict[str, set[int]] = {}
        self._texts: dict[str, list[str] | None] = {}

    def lines(self, path: str) -> list[str] | None:
        if path not in self._texts:
            text = self.extra.get(path, read_text(self.root, path))
            self._texts[path] = None if text is None else text.splitlines(keepends=True)
        return self._texts[path]

    def take(self, path: str, start: int, end: int, why: str, kind: SnippetKind) -> bool:
        lines = self.lines(path)
        if lines is None:
            return False
        have = self.shown.setdefault(path, set())
        todo = [i for i in range(start, min(end, len(lines)) + 1) if i not in have]
        if not todo:
            return False
        start, end = todo[0], todo[-1]
        text = "".join(lines[start - 1:end])
        if len(text) > self.budget or not text.strip():
            return False
        have.update(range(start, end + 1))
        self.picked.append(Snippet(path, start, end, text, why, kind))
        self.budget -= len(text)
        return True

    def note(self, snippet: Snippet) -> bool:
        """An outline: charged to the budget, covers no lines."""
        if len(snippet.text) > self.budget:
            return False
        self.picked.append(snippet)
        self.budget -= len(snippet.text)
        return True
