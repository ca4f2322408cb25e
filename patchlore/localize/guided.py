"""Model-guided localization, Agentless's shape in one request: the model sees a compact map
of the repo (paths, and the top-level definitions of the files the search ranks highest) and
the search's hits, and names files and functions; those are shown in full before the search
fills the rest of the budget. Paths that are not in the repo are ignored; an answer that
names nothing known leaves the search's result as it would have been."""

from __future__ import annotations

import re
from collections.abc import Callable

from patchlore.localize.chunks import Chunk
from patchlore.localize.index import RepoIndex, file_kind
from patchlore.localize.picker import Picker, SnippetKind

MAP_LIMIT = 12_000  # characters of repo map: about 3,000 tokens
MAP_DETAILED = 25  # files whose definitions are listed
MAX_FILES = 5
NAMED_SHARE = 0.6  # what the model names takes at most this share of the budget
_NAMED = re.compile(r"^(?:function|class|method|def|func)\s*:\s*([\w.]+)", re.IGNORECASE)
_LISTED = re.compile(r"^`?([\w./-]+?)`?(?:::|:)\s*(.*)$")
_IDENT = re.compile(r"[A-Za-z_][\w.]*")


LOCALIZE = """You find where a bug lives in a repository. You are shown the issue, a map of the
repository (file paths, with the top-level classes and functions of the files that look
related) and what a text search found. Name the files and the functions or classes that
must be read to fix the issue, most likely first, at most 5 files.

Answer with one block and nothing else, in exactly this form:

```
path/to/file.py
function: name_of_function
class: NameOfClass
method: NameOfClass.name_of_method

path/to/other.py
```"""


def localize_message(task: str, repo_map: str, hits: str) -> str:
    return (f"## Issue\n{task.strip()[:6000]}\n\n## Repository map\n{repo_map}\n\n"
            f"## Search hits (file: function)\n{hits}\n\n"
            "Which files and functions must be read to fix it?")


def repo_map(index: RepoIndex, ranked_paths: list[str], limit: int = MAP_LIMIT) -> str:
    """Related files with their top-level definitions first, then every other code file's
    path, cut at `limit` characters."""
    top = ranked_paths[:MAP_DETAILED]
    rows = [f"{path}: {', '.join(index.defs(path)[:40])}" for path in top]
    rows += [p for p in sorted(index.sizes) if file_kind(p) == "code" and p not in top]
    out, size = [], 0
    for n, row in enumerate(rows):
        if size + len(row) + 1 > limit:
            out.append(f"... and {len(rows) - n} more files")
            break
        out.append(row)
        size += len(row) + 1
    return "\n".join(out)


def parse_locations(text: str, known: set[str]) -> list[tuple[str, list[str]]]:
    """(file, names) pairs from the answer, known files only, at most MAX_FILES."""
    out: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip().strip("`*-#> ").strip()
        named = _NAMED.match(line)
        if named:
            if current is not None:
                current.append(named.group(1))
            continue
        # "path", "path: name, name" or "path::Class.method"
        listed = _LISTED.match(line)
        word = (listed.group(1) if listed else line.split(" ")[0]).strip(",'\"`")
        word = word.removeprefix("./")
        if word in known:
            current = next((names for f, names in out if f == word), None)
            if current is None:
                current = []
                out.append((word, current))
            if listed:
                current += _IDENT.findall(listed.group(2))
        elif word:
            current = None  # a path we do not know: its names belong to nothing
    return out[:MAX_FILES]


def _named_chunks(chunks: list[Chunk], name: str) -> list[Chunk]:
    """The chunks of a function, method or class (with its methods) of that name."""
    return [c for c in chunks if c.name and (c.name == name or c.name.endswith("." + name)
                                             or c.name.startswith(name + "."))]


def guide(model, p: Picker, index: RepoIndex, task: str, ranked: list[tuple[float, Chunk]],
          on_reply: Callable = lambda reply: None) -> None:
    """Ask once; show what the model names through the picker `p`."""
    paths = list(dict.fromkeys(c.path for _, c in ranked))
    hits = "\n".join(f"{c.path}: {c.name or f'lines {c.start}-{c.end}'}" for _, c in ranked[:20])
    reply = model.complete([{"role": "system", "content": LOCALIZE},
                            {"role": "user", "content": localize_message(
                                task, repo_map(index, paths), hits)}], n=1)
    on_reply(reply)
    named = parse_locations(reply.texts[0] if reply.texts else "",
                            set(index.sizes) | set(p.extra))
    keep = p.budget * (1 - NAMED_SHARE)
    for path, names in named:
        lines = p.lines(path)
        if lines is None:
            continue
        chunks = index.file_chunks(path)
        spans = [(min(c.start for c in cs), max(c.end for c in cs), n)
                 for n in names if (cs := _named_chunks(chunks, n))]
        if not names:
            spans = [(1, len(lines), "the file")]
        for start, end, name in spans:
            size = sum(map(len, lines[start - 1:end]))
            if p.budget - size >= keep:
                p.take(path, start, end, f"named by the model: {name}", SnippetKind.MODEL)
            else:  # too large to show whole: its parts the search ranks, in order
                for c in (c for _, c in ranked if c.path == path and start <= c.start <= end):
                    if p.budget - sum(map(len, lines[c.start - 1:c.end])) >= keep:
                        p.take(path, c.start, c.end, f"named by the model: {name}",
                               SnippetKind.MODEL)
