"""What an issue points at, read without a model: the identifiers it names, the files and
modules it mentions, its error messages and the frames of its tracebacks, each word group
with a weight for the search (index.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from patchlore.localize.index import file_kind, tokens

FRAME = re.compile(r'File "(?P<a>[^"]+)", line (?P<al>\d+)(?:, in (?P<af>[\w<>]+))?'
                   r'|^(?P<b>[\w./\\-]+\.\w+):(?P<bl>\d+):', re.MULTILINE)
ERROR = re.compile(r"^\s*(?:E\s+)?(?P<exc>[\w.]*(?:Error|Exception|Warning|Exit)):?(?P<msg>.*)$",
                   re.MULTILINE)
CODE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
IDENT = re.compile(r"\b(?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*\b|\b[A-Za-z_]\w*(?=\()"
                   r"|\b[a-z]+_\w+\b|\b_+\w+\b|\b[A-Z][a-z0-9]+[A-Z]\w*\b")
PATH = re.compile(r"[\w./\\-]+\.(?:py|pyi|pyx|c|h|cpp|rs|go|js|ts|java|rb|toml|cfg|ini|ya?ml|md|rst)\b")
DOC_WORDS = re.compile(r"\b(documentation|docs|readme|changelog|typo in the doc)", re.IGNORECASE)

# weights of the word groups: names of code count most, plain prose least
W_IDENT, W_ERROR, W_TEST, W_TRACE, W_PROSE = 3.0, 2.0, 2.0, 2.0, 1.0


@dataclass
class Query:
    groups: list[tuple[list[str], float]] = field(default_factory=list)  # (words, weight)
    names: set[str] = field(default_factory=set)  # identifiers named, last part, lower-case
    files: dict[str, str] = field(default_factory=dict)  # repo file -> why it is named
    frames: list[tuple[str, int, str]] = field(default_factory=list)  # (path, line, function)
    about_docs: bool = False


def resolve(path: str, repo_files: set[str], repo_path: str = "") -> str | None:
    """The repo file a path from a traceback or an issue names: as is, relative to the
    sandbox's repo path, or by its longest tail (site-packages/pkg/mod.py -> src/pkg/mod.py)."""
    path = path.replace("\\", "/")
    if repo_path:
        path = path.removeprefix(repo_path.rstrip("/") + "/")
    path = path.removeprefix("./")
    if path in repo_files:
        return path
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        tail = "/".join(parts[i:])
        hits = [f for f in repo_files if f == tail or f.endswith("/" + tail)]
        if len(hits) == 1 and ("/" in tail or i == len(parts) - 1):
            return hits[0]
        if hits:
            return None  # ambiguous
    return None


def module_files(dotted: str, repo_files: set[str]) -> list[str]:
    """Files a dotted name may live in: pkg.mod.Class -> pkg/mod.py, pkg/mod/__init__.py."""
    parts = dotted.split(".")
    out = []
    for n in range(len(parts), 0, -1):
        stem = "/".join(parts[:n])
        for cand in (f"{stem}.py", f"{stem}/__init__.py"):
            out += [f for f in repo_files if f == cand or f.endswith("/" + cand)]
        if out:
            break
    return out if len(out) <= 3 else []  # a name common to many files names none of them


def build_query(task: str, traceback: str, test_code: str, repo_files: set[str],
                repo_path: str = "") -> Query:
    q = Query()
    text = f"{task}\n{traceback}"
    for m in FRAME.finditer(text):
        raw = m.group("a") or m.group("b")
        found = resolve(raw, repo_files, repo_path)
        if found:
            q.frames.append((found, int(m.group("al") or m.group("bl")), m.group("af") or ""))
    for m in PATH.finditer(text):
        found = resolve(m.group(0), repo_files, repo_path)
        if found:
            q.files.setdefault(found, "named in the issue")
    idents = [m.group(0) for m in IDENT.finditer(task)]
    idents += [w for block in CODE.findall(task) for w in re.findall(r"[A-Za-z_]\w+", block)]
    for name in idents:
        if "." in name and not re.search(r"\.(py|com|org|io|html?)$", name):
            for f in module_files(name, repo_files):
                q.files.setdefault(f, f"module of {name}")
    for path, _, func in q.frames:
        q.files.setdefault(path, "in a traceback")
        if func and not func.startswith("<"):
            idents.append(func)
    # dunder names (__init__) are everywhere: they name nothing in particular
    q.names = {n.split(".")[-1].lower() for n in idents
               if len(n) > 2 and not n.split(".")[-1].startswith("__")}
    stems: dict[str, list[str]] = {}
    for f in repo_files:
        if f.endswith(".py") and file_kind(f) == "code":
            stems.setdefault(f.rsplit("/", 1)[-1][:-3].lower(), []).append(f)
    for word in set(re.findall(r"[A-Za-z_]\w{2,}", task)):
        found = stems.get(word.lower(), [])
        if 0 < len(found) <= 2 and not word.startswith("__"):
            for f in found:
                q.files.setdefault(f, f"its name, {word}, is in the issue")
    errors = [f"{m.group('exc')} {m.group('msg')}" for m in ERROR.finditer(text)]
    q.groups = [(tokens(" ".join(idents)), W_IDENT), (tokens(" ".join(errors)), W_ERROR),
                (tokens(test_code), W_TEST), (tokens(" ".join(f for _, _, f in q.frames)), W_TRACE),
                (tokens(task), W_PROSE)]
    q.groups = [(words, w) for words, w in q.groups if words]
    q.about_docs = bool(DOC_WORDS.search(task)) or any(
        f.endswith((".md", ".rst", ".txt")) for f in q.files)
    return q
