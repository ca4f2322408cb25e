"""Mutation operators: small, exact text edits of a function found through its AST.

Each operator names a node and the byte span to replace, so a mutant differs from the original
by one token or expression and its diff is the one-line change (no `ast.unparse` reformatting).
The references are mutation testing (mutmut, cosmic-ray) and SWE-smith's procedural
modifications: flip a comparison, off by one, swap arguments, drop a condition or a return,
wrong operator or constant, wrong variable.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

FLIP_CMP = {ast.Lt: ">=", ast.LtE: ">", ast.Gt: "<=", ast.GtE: "<", ast.Eq: "!=",
            ast.NotEq: "==", ast.Is: "is not", ast.IsNot: "is", ast.In: "not in",
            ast.NotIn: "in"}
CMP_TEXT = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
            ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not", ast.In: "in",
            ast.NotIn: "not in"}
SWAP_BIN = {ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "/"),
            ast.Div: ("/", "*"), ast.FloorDiv: ("//", "*"), ast.Mod: ("%", "//"),
            ast.BitAnd: ("&", "|"), ast.BitOr: ("|", "&")}


@dataclass(frozen=True)
class Function:
    path: str
    name: str  # qualified: Class.method
    start: int  # byte offsets of the whole def in the file
    end: int
    digest: str  # sha256 of its source: a rerun skips a function practised at this content
    first_line: int = 0  # its lines, decorators included (what a trace of calls names)
    last_line: int = 0


@dataclass(frozen=True)
class Mutant:
    path: str
    function: str
    operator: str
    line: int
    start: int  # byte span in the original file
    end: int
    new: str
    old: str

    def apply(self, source: bytes) -> bytes:
        return source[:self.start] + self.new.encode() + source[self.end:]

    @property
    def key(self) -> str:
        return f"{self.path}:{self.function}:{self.operator}:{self.start}:{self.new}"


def _offsets(source: bytes) -> list[int]:
    starts, pos = [0], 0
    for line in source.splitlines(keepends=True):
        pos += len(line)
        starts.append(pos)
    return starts


def functions(path: str, source: bytes) -> list[tuple[Function, ast.AST]]:
    """Top-level functions and methods of classes (nested ones belong to their parent)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = _offsets(source)
    found = []

    def visit(body, prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = node.decorator_list[0] if node.decorator_list else node
                start = lines[first.lineno - 1] + first.col_offset
                end = lines[node.end_lineno - 1] + node.end_col_offset
                found.append((Function(path, prefix + node.name, start, end,
                                       hashlib.sha256(source[start:end]).hexdigest()[:16],
                                       first.lineno, node.end_lineno), node))
            elif isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.")

    visit(tree.body, "")
    return found


def mutants(fn: Function, node: ast.AST, source: bytes) -> list[Mutant]:
    """Every mutant of one function, in source order."""
    lines = _offsets(source)

    def at(n: ast.AST) -> tuple[int, int]:
        return (lines[n.lineno - 1] + n.col_offset, lines[n.end_lineno - 1] + n.end_col_offset)

    out: list[Mutant] = []

    def add(op: str, n: ast.AST, start: int, end: int, new: str) -> None:
        old = source[start:end].decode("utf-8", "replace")
        if new != old:
            out.append(Mutant(fn.path, fn.name, op, n.lineno, start, end, new, old))

    def between(a: ast.AST, b: ast.AST, token: str) -> tuple[int, int] | None:
        """The span of `token` in the text between two nodes (the operator between them)."""
        lo, hi = at(a)[1], at(b)[0]
        gap = source[lo:hi]
        i = gap.find(token.encode())
        return None if i < 0 else (lo + i, lo + i + len(token.encode()))

    for n in _walk(node):
        if isinstance(n, ast.Compare) and len(n.ops) == 1 and type(n.ops[0]) in FLIP_CMP:
            op = type(n.ops[0])
            span = between(n.left, n.comparators[0], CMP_TEXT[op])
            if span:
                add("flip-comparison", n, *span, FLIP_CMP[op])
        elif isinstance(n, ast.BinOp) and type(n.op) in SWAP_BIN:
            token, new = SWAP_BIN[type(n.op)]
            span = between(n.left, n.right, token)
            if span:
                add("wrong-operator", n, *span, new)
        elif isinstance(n, ast.BoolOp) and len(n.values) == 2:
            token, new = ("and", "or") if isinstance(n.op, ast.And) else ("or", "and")
            span = between(n.values[0], n.values[1], token)
            if span:
                add("wrong-operator", n, *span, new)
        elif isinstance(n, ast.Constant) and type(n.value) is int:
            add("off-by-one", n, *at(n), str(n.value + 1))
        elif isinstance(n, ast.Constant) and type(n.value) is bool:
            add("wrong-constant", n, *at(n), str(not n.value))
        elif isinstance(n, (ast.If, ast.While)) and not isinstance(n.test, ast.Constant):
            s, e = at(n.test)
            add("drop-condition", n.test, s, e,
                "not (" + source[s:e].decode("utf-8", "replace") + ")")
        elif isinstance(n, ast.Return) and n.value is not None and not (
                isinstance(n.value, ast.Constant) and n.value.value is None):
            add("drop-return", n, *at(n.value), "None")
        elif isinstance(n, ast.Call) and len(n.args) >= 2 and not any(
                isinstance(a, ast.Starred) for a in n.args[:2]):
            (s0, e0), (s1, e1) = at(n.args[0]), at(n.args[1])
            a0, mid, a1 = source[s0:e0], source[e0:s1], source[s1:e1]
            if a0 != a1 and b"\n" not in mid:
                add("swap-arguments", n, s0, e1,
                    (a1 + mid + a0).decode("utf-8", "replace"))
    out.extend(_wrong_variable(fn, node, source, at))
    return out


def _wrong_variable(fn: Function, node: ast.AST, source: bytes, at) -> Iterator[Mutant]:
    """A name read where another local of the function was meant (the first read of each)."""
    args = node.args
    params = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)
              if a.arg not in ("self", "cls")]
    seen = set()
    for n in _walk(node):
        if (isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in params
                and n.id not in seen and len(params) > 1):
            seen.add(n.id)
            other = params[(params.index(n.id) + 1) % len(params)]
            s, e = at(n)
            yield Mutant(fn.path, fn.name, "wrong-variable", n.lineno, s, e, other, n.id)


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    """The function's body in source order, without the decorators, defaults and annotations
    (a mutant there changes the signature, not the behaviour the tests see)."""
    for stmt in node.body:
        for n in ast.walk(stmt):
            yield n


def still_parses(source: bytes) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return True
