"""Where the bug probably is, and why: the snippets of the repo the model is shown.

In order, within a budget of tokens (4 characters each):
  1. the functions around the in-repo frames of the tracebacks (the failing tests' and the
     issue's own), a file too large to show whole as its outline (class and def lines) plus
     those functions; small frame files whole
  2. the failing tests' own functions (their bodies name the code under test)
  3. memory: the functions that similar verified repairs (recalled episodes, practice's
     among them) changed, at most 1/4 of the budget; their files also rank higher in the
     search (ExpeRepair's retrieval pointing localization at where similar bugs were)
  4. search: the repo's structural chunks ranked by a weighted BM25 query (query.py), grouped
     by file, until the budget is spent
`localize_repo` is the one step `fix`, `eval run` and `patchlore localize` all call.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from patchlore.config import default_of
from patchlore.localize.chunks import Chunk, chunk_file, outline
from patchlore.localize.index import RepoIndex, file_kind, load_or_build, tokens
from patchlore.localize.picker import Picker, Snippet, SnippetKind
from patchlore.localize.query import Query, build_query

CHARS_PER_TOKEN = 4
OUTLINE_SHARE = 16  # an outline takes at most 1/16 of the budget, the lines nearest the frames
FRAME_SHARE = 2  # tracebacks take at most half the budget
WHOLE_FRAME_FILE = 8  # a file in a traceback is shown whole if it takes at most 1/8
TEST_SHARE = 5  # the failing tests' functions, at most 1/5
SAME_FILE = 0.8  # each further chunk of a file counts this much less: several files are seen
WHOLE_SHARE = 4  # a hit in a long function shows all of it if it takes at most 1/4
HEADS = 3  # the files whose imports are shown
MEMORY_SHARE = 4  # what recalled repairs changed takes at most 1/4


def _enclosing(chunks: list[Chunk], line: int) -> Chunk | None:
    """The innermost named chunk holding a line (a method before its class's head)."""
    holding = [c for c in chunks if c.start <= line <= c.end]
    named = [c for c in holding if c.name]
    pool = named or holding
    if not pool:
        return None
    return whole(chunks, min(pool, key=lambda c: c.end - c.start))


def whole(chunks: list[Chunk], chunk: Chunk) -> Chunk:
    """The whole function a chunk is a piece of (a long function is cut into pieces, which
    touch; two functions of one name do not)."""
    if not chunk.name:
        return chunk
    pieces = sorted((c for c in chunks if c.name == chunk.name
                     and c.signature == chunk.signature), key=lambda c: c.start)
    start, end = chunk.start, chunk.end
    for c in pieces:
        end = c.end if c.start == end + 1 else end
    for c in reversed(pieces):
        start = c.start if c.end == start - 1 else start
    return Chunk(chunk.path, start, end, chunk.name, chunk.signature)


def _structure(index: RepoIndex, path: str, lines: list[str]) -> list[Chunk]:
    """A file's chunks with their names: the index's, or parsed now (tests and files added
    in the sandbox are not indexed)."""
    if path in index.sizes:
        return index.file_chunks(path)
    return chunk_file(path, "".join(lines))


def _outline_near(text: str, path: str, near: list[int], limit: int) -> str:
    """The outline of a file, cut to `limit` characters around the frame lines."""
    rows = outline(path, text).splitlines()
    if sum(len(r) + 1 for r in rows) <= limit:
        return "\n".join(rows)
    keyed = sorted(rows, key=lambda r: min(abs(int(r.split(":")[0]) - n) for n in near))
    keep, size = set(), 0
    for r in keyed:
        if size + len(r) + 1 > limit:
            break
        keep.add(r)
        size += len(r) + 1
    return "\n".join(r for r in rows if r in keep)


def _frames(p: Picker, index: RepoIndex, q: Query, total: int) -> None:
    """Innermost frames first (a traceback ends with them), the code under test before the
    tests; at most 1/FRAME_SHARE of the budget, so the search has its part too."""
    frames = sorted(reversed(q.frames), key=lambda f: file_kind(f[0]) == "test")
    floor = p.budget - total // FRAME_SHARE
    seen: set[str] = set()
    for path, n, func in dict.fromkeys(frames):
        lines = p.lines(path)
        if lines is None or p.budget <= floor:
            continue
        size = sum(map(len, lines))
        if path not in seen:
            seen.add(path)
            if size <= total // WHOLE_FRAME_FILE:
                p.take(path, 1, len(lines), "whole file: in a traceback", SnippetKind.TRACEBACK)
            elif size > total // 2:
                near = [m for f, m, _ in q.frames if f == path]
                body = _outline_near("".join(lines), path, near, total // OUTLINE_SHARE)
                p.note(Snippet(path, 1, len(lines), body, f"outline (class and def lines) "
                               f"of this {size // 1000} KB file in a traceback",
                               SnippetKind.OUTLINE))
        c = _enclosing(_structure(index, path, lines), n)
        if c is not None:
            name = c.name or func or "module code"
            p.take(path, c.start, c.end, f"traceback: line {n} is in {name}", SnippetKind.TRACEBACK)


def _test_ids(failing_tests: list[str]) -> list[tuple[str, str]]:
    """(file, qualified name) of each failing test id `path::Class::test[param]`."""
    out = []
    for t in failing_tests:
        parts = t.split("[")[0].split("::")
        if len(parts) >= 2:
            out.append((parts[0], ".".join(parts[1:])))
    return list(dict.fromkeys(out))


def _tests(p: Picker, index: RepoIndex, failing_tests: list[str], budget: int) -> str:
    """Show the failing tests' functions; returns their code (words for the query)."""
    before, code = p.budget, []
    parsed: dict[str, list[Chunk]] = {}  # many failing tests may share a file: parse it once
    for path, name in _test_ids(failing_tests):
        lines = p.lines(path)
        if lines is None:
            continue
        if path not in parsed:
            parsed[path] = _structure(index, path, lines)
        mine = [c for c in parsed[path] if c.name == name or c.name.endswith("." + name)]
        for c in mine:
            code.append("".join(lines[c.start - 1:c.end]))
            if before - p.budget < budget:
                p.take(path, c.start, c.end, f"failing test {name}", SnippetKind.TEST)
    return "\n".join(code)


def changed_lines(diff: str) -> list[tuple[str, int]]:
    """(path, line) of the first changed line of each hunk of a diff, on its new side: where
    the fixed code is."""
    from unidiff import PatchSet
    from unidiff.errors import UnidiffParseError

    try:
        patch = PatchSet(diff)
    except UnidiffParseError:
        return []
    out = []
    for f in patch:
        for hunk in f:
            changed = [ln for ln in hunk if ln.is_added or ln.is_removed]
            if not changed:
                continue
            first = changed[0]
            # a removed line has no new-side number: the line now in its place
            n = first.target_line_no or max(hunk.target_start, first.source_line_no
                                            - hunk.source_start + hunk.target_start)
            out.append((f.path, n))
    return out


def _recalled(p: Picker, index: RepoIndex, q: Query, recalled: list[tuple[str, str]],
              total: int) -> None:
    """The functions that recalled verified repairs ((label, diff) each) changed, where the
    repo still has those files; their files also count more in the search."""
    floor = p.budget - total // MEMORY_SHARE
    for label, diff in recalled:
        for path, n in changed_lines(diff):
            lines = p.lines(path)
            if lines is None or path not in index.sizes:
                continue
            q.files.setdefault(path, f"a similar repair ({label}) changed it")
            c = _enclosing(index.file_chunks(path), n)
            if c is None or p.budget - _size(p, c) < floor:
                continue
            p.take(path, c.start, c.end, f"memory: a similar repair ({label}) changed "
                   f"{c.name or f'line {n}'}", SnippetKind.MEMORY)


def rank(index: RepoIndex, q: Query) -> list[tuple[float, Chunk]]:
    """Every chunk with its score for the query, best first; docs and config count less
    (docs not at all unless the issue is about them)."""
    import numpy as np

    total = np.zeros(len(index.chunks))
    for words, weight in q.groups:
        s = index.scores(words)
        if s is not None and s.max() > 0:
            total += weight * s / s.max()
    out = []
    for score, c in zip(total.tolist(), index.chunks):
        if score <= 0:
            continue
        kind = file_kind(c.path)
        if kind == "doc" and not q.about_docs:
            continue
        score *= {"doc": 0.5, "config": 0.5}.get(kind, 1.0)
        if c.name and c.name.split(".")[-1].lower() in q.names:
            score *= 1.5
        if c.path in q.files:
            score *= 1.5
        out.append((score, c))
    out.sort(key=lambda x: -x[0])
    if not out:  # no word of the query is in the repo (or the repo has no searchable word:
        # one-letter names, stop words only): its code in file order, for a small repo all
        # there is to show
        out = [(0.0, c) for c in index.chunks if file_kind(c.path) == "code"]
    return out


def _search(p: Picker, index: RepoIndex, q: Query, total: int) -> None:
    ranked = rank(index, q)
    # pick greedily; each chunk already taken from a file makes the next one count less
    taken: dict[str, int] = {}
    pending = ranked[:400]
    while pending and p.budget > 0:
        best = max(range(len(pending)),
                   key=lambda i: pending[i][0] * SAME_FILE ** taken.get(pending[i][1].path, 0))
        score, c = pending.pop(best)
        chunks = index.file_chunks(c.path)
        full = whole(chunks, c)
        if _size(p, full) <= total // WHOLE_SHARE:
            c = full
        if _size(p, c) > p.budget:
            continue
        text_words = set(tokens("".join((p.lines(c.path) or [])[c.start - 1:c.end])))
        matched = [w for words, _ in q.groups[:3] for w in words if w in text_words]
        why = f"search: {c.name or 'code'} (score {score:.2f}"
        why += f"; matches {', '.join(dict.fromkeys(matched[:6]))})" if matched else ")"
        if not p.take(c.path, c.start, c.end, why, SnippetKind.SEARCH):
            continue
        taken[c.path] = taken.get(c.path, 0) + 1
        head = chunks[0] if chunks else None
        # the imports of the first few files: a fix that needs one must see them
        if len(taken) <= HEADS and taken[c.path] == 1 and head and not head.name \
                and head.end - head.start < 60:
            p.take(c.path, head.start, head.end, "the file's imports", SnippetKind.SEARCH)


def _size(p: Picker, c: Chunk) -> int:
    return sum(map(len, (p.lines(c.path) or [])[c.start - 1:c.end]))


def traces_of(run) -> str:
    """The tracebacks of a test run (a sandbox TestRun): failing tests' messages, or the
    output's tail when there are no per-test outcomes."""
    if not run.per_test:
        return run.command.stdout[-4000:] + run.command.stderr[-4000:]
    return "\n".join(t.message for t in run.tests.values() if not t.passed)


def localize_repo(root: Path, files: list[str] | None = None, task: str = "",
                  traceback: str = "", failing_tests: list[str] = (), repo_path: str = "",
                  budget_tokens: int = default_of("context_budget"),
                  extra: dict[str, str] | None = None, model=None,
                  on_reply: Callable = lambda reply: None,
                  recalled: list[tuple[str, str]] = (),
                  index: RepoIndex | None = None) -> list[Snippet]:
    """The snippets to show for an issue and/or failing tests, grouped by file.
    `extra` holds files that are not on disk (a reproduction test); `model`, when given,
    names files and functions first (guided.py) at the cost of one request, whose reply
    goes to `on_reply`; `recalled` are similar verified repairs, (label, diff) each;
    `index`: the repo's index if the caller holds it, else it is loaded (or built)."""
    if files is None:
        from patchlore.sandbox.snapshot import take_snapshot

        files = take_snapshot(root).files
    root = Path(root)
    if index is None:
        index = load_or_build(root, files)
    total = budget_tokens * CHARS_PER_TOKEN
    p = Picker(root, total, extra or {})
    repo_files = set(files) | set(p.extra)
    test_code = "\n".join(p.extra.values())
    q = build_query(task, traceback, test_code, repo_files, repo_path)
    _frames(p, index, q, total)
    test_code += _tests(p, index, list(failing_tests), total // TEST_SHARE)
    q = build_query(task, traceback, test_code, repo_files, repo_path)
    _recalled(p, index, q, list(recalled), total)
    if model is not None:
        from patchlore.localize.guided import guide
        from patchlore.llm.model import DeadlineReached

        try:
            guide(model, p, index, task, rank(index, q)[:60], on_reply)
        except DeadlineReached:
            pass  # the search alone picks; the rounds then stop at the deadline
    _search(p, index, q, total)
    return arrange(p.picked)


def arrange(picked: list[Snippet]) -> list[Snippet]:
    """Snippets grouped by file (files in the order first picked), in line order, touching
    ranges of a file merged: the model reads each file top to bottom once."""
    files = list(dict.fromkeys(s.path for s in picked))
    out: list[Snippet] = []
    for path in files:
        mine = sorted((s for s in picked if s.path == path),
                      key=lambda s: (s.kind != SnippetKind.OUTLINE, s.start_line))
        for s in mine:
            last = out[-1] if out else None
            if (last and last.path == path and SnippetKind.OUTLINE not in (s.kind, last.kind)
                    and last.end_line + 1 == s.start_line):
                out[-1] = Snippet(path, last.start_line, s.end_line, last.text + s.text,
                                  f"{last.why}; {s.why}", last.kind)
            else:
                out.append(s)
    return out
