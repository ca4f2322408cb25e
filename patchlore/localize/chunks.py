"""A file cut along its code's structure, so search finds a function rather than a file.

Python goes through `ast`: every function and method is a chunk named by its qualified name
(`Class.method`) and signature; a class's own lines (docstring, attributes) and the module's
top-level code between definitions are chunks too. A function longer than MAX_LINES is cut
into pieces that keep its name. Other files are cut at lines that look like definitions or
headings, else at blank lines, at most MAX_LINES apiece.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

MAX_LINES = 60
_DEF_LIKE = re.compile(r"^\s*(?:(?:export|public|private|protected|static|async|pub|inline)\s+)*"
                       r"(?:def|class|function|func|fn|impl|struct|interface|module|sub)\b"
                       r"|^#{1,6} ")


@dataclass(frozen=True)
class Chunk:
    path: str
    start: int  # 1-based, inclusive
    end: int
    name: str = ""  # qualified name of the function or class, "" for other code
    signature: str = ""  # the def or class line(s)


def chunk_file(path: str, text: str) -> list[Chunk]:
    lines = text.splitlines()
    if not lines:
        return []
    if path.endswith((".py", ".pyi")):
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            tree = None
        if tree is not None:
            return _python(path, tree, lines)
    return _by_lines(path, lines, 1, len(lines))


def _sig(lines: list[str], node: ast.AST) -> str:
    """The header of a def or class: from its line to the line of its first statement."""
    body = getattr(node, "body", [])
    stop = body[0].lineno - 1 if body else node.lineno
    head = lines[node.lineno - 1:max(stop, node.lineno)]
    return " ".join(s.strip() for s in head)[:300]


def _python(path: str, tree: ast.Module, lines: list[str]) -> list[Chunk]:
    out: list[Chunk] = []

    def visit(body: list[ast.stmt], start: int, end: int, prefix: str) -> None:
        """Chunks for a block of statements spanning lines start..end."""
        at = start  # first line not yet in a chunk
        for node in body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            last = node.end_lineno or node.lineno
            if first > at:
                out.extend(_by_lines(path, lines, at, first - 1, prefix.rstrip(".")))
            name = prefix + node.name
            if isinstance(node, ast.ClassDef):
                inner = [n for n in node.body
                         if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
                head_end = min([min([n.lineno] + [d.lineno for d in n.decorator_list])
                                for n in inner] + [last + 1]) - 1
                out.append(Chunk(path, first, max(first, head_end), name, _sig(lines, node)))
                if inner:
                    visit(node.body, head_end + 1, last, name + ".")
            else:
                sig = _sig(lines, node)
                for a in range(first, last + 1, MAX_LINES):
                    out.append(Chunk(path, a, min(last, a + MAX_LINES - 1), name, sig))
            at = last + 1
        if at <= end:
            out.extend(_by_lines(path, lines, at, end, prefix.rstrip(".")))

    visit(tree.body, 1, len(lines), "")
    return [c for c in out if any(lines[i].strip() for i in range(c.start - 1, c.end))]


def _by_lines(path: str, lines: list[str], start: int, end: int, name: str = "") -> list[Chunk]:
    """Lines start..end cut before definition-like lines and, in long runs, at blank lines."""
    out, a = [], start
    for i in range(start, end + 1):
        text = lines[i - 1]
        n = i - a
        if i > a and (_DEF_LIKE.match(text) or n >= MAX_LINES
                      or (n >= MAX_LINES // 2 and not text.strip())):
            out.append(Chunk(path, a, i - 1, name))
            a = i
    if a <= end:
        out.append(Chunk(path, a, end, name))
    return [c for c in out if any(lines[j].strip() for j in range(c.start - 1, c.end))]


def outline(path: str, text: str) -> str:
    """The class and def lines of a Python file, each with its line number: what a large file
    holds, in a few hundred characters per hundred functions."""
    lines = text.splitlines()
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return "\n".join(f"{i}: {ln}" for i, ln in enumerate(lines, 1) if _DEF_LIKE.match(ln))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append((node.lineno, lines[node.lineno - 1].rstrip()))
    return "\n".join(f"{n}: {ln}" for n, ln in sorted(out))
