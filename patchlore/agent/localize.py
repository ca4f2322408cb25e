"""Where the bug probably is: in-repo frames of the failing tests' tracebacks, then a lexical
(BM25) search of the repo's code for the task text and error messages. The result is cut to a
token budget, most likely places first."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FRAME = re.compile(r'(?:File "(?P<a>[^"]+)", line (?P<al>\d+))|(?:^(?P<b>[\w./-]+\.py):(?P<bl>\d+):)',
                   re.MULTILINE)
CHARS_PER_TOKEN = 4
SOURCE_SUFFIXES = (".py", ".pyi", ".cfg", ".toml", ".ini", ".txt", ".md", ".rst", ".json", ".yaml",
                   ".yml", ".js", ".ts", ".go", ".rs", ".java", ".c", ".h", ".cpp", ".rb", ".sh")


@dataclass
class Snippet:
    path: str
    text: str
    why: str  # "traceback", "test", or "search"


def frames(traceback: str, repo_files: set[str], repo_path: str) -> list[str]:
    """In-repo files named by a traceback, innermost last, without duplicates."""
    out: list[str] = []
    for m in FRAME.finditer(traceback):
        path = m.group("a") or m.group("b")
        path = path.removeprefix(repo_path.rstrip("/") + "/").removeprefix("./")
        if path in repo_files and path not in out:
            out.append(path)
    return out


def _chunks(path: str, text: str, lines_per_chunk: int = 40) -> list[tuple[str, str]]:
    """Split at top-level definitions (or every N lines) so search finds the function, not
    the whole file."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, ln in enumerate(lines) if re.match(r"(async\s+def|def|class)\s", ln)]
    bounds = sorted({0, *starts, len(lines)})
    out = []
    for a, b in zip(bounds, bounds[1:]):
        for c in range(a, b, lines_per_chunk):
            out.append((path, "".join(lines[c:min(b, c + lines_per_chunk)])))
    return out


def search(files: dict[str, str], query: str, k: int = 8) -> list[tuple[str, str]]:
    """Top-k (path, chunk) by BM25 over the repo's source chunks."""
    import bm25s

    chunks = [c for path, text in files.items() for c in _chunks(path, text) if c[1].strip()]
    if not chunks or not query.strip():
        return []
    corpus = [f"{path}\n{text}" for path, text in chunks]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False),
                    show_progress=False)
    tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
    if not tokens.vocab:
        return []
    docs, scores = retriever.retrieve(tokens, k=min(k, len(chunks)), show_progress=False)
    return [chunks[i] for i, s in zip(docs[0], scores[0]) if s > 0]


def read_sources(root: Path, files: list[str], limit: int = 200_000) -> dict[str, str]:
    out = {}
    for name in files:
        if not name.endswith(SOURCE_SUFFIXES):
            continue
        p = root / name
        try:
            if p.is_symlink() or p.stat().st_size > limit:
                continue
            out[name] = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
    return out


def localize(files: dict[str, str], tracebacks: str, test_files: list[str], query: str,
             repo_path: str, budget_tokens: int = 6000) -> list[Snippet]:
    """Snippets for the prompt: whole files from the tracebacks and failing tests first, then
    search hits, until the budget is spent."""
    budget = budget_tokens * CHARS_PER_TOKEN
    picked: list[Snippet] = []
    seen: set[str] = set()

    def take(snippet: Snippet, key: str) -> None:
        nonlocal budget
        if key in seen or len(snippet.text) > budget:
            return
        seen.add(key)
        picked.append(snippet)
        budget -= len(snippet.text)

    in_trace = frames(tracebacks, set(files), repo_path)
    # the code under test before the tests themselves: it is where the fix goes
    for path in sorted(in_trace, key=lambda p: p in test_files):
        take(Snippet(path, files[path], "traceback"), path)
    for path in test_files:
        if path in files:
            take(Snippet(path, files[path], "test"), path)
    for path, chunk in search(files, query):
        if path not in seen:
            take(Snippet(path, chunk, "search"), f"{path}:{hash(chunk)}")
    return picked
