"""What people see: rich consoles on stdout (results) and stderr (progress, warnings, errors).

Plain output under CI, NO_COLOR, or without a terminal: no colours, no live progress.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from functools import cache


def plain() -> bool:
    return bool(os.environ.get("CI")) or "NO_COLOR" in os.environ or not sys.stderr.isatty()


@cache
def out():
    from rich.console import Console

    return Console(highlight=False, no_color=plain() or None, soft_wrap=True)


@cache
def err():
    from rich.console import Console

    return Console(stderr=True, highlight=False, no_color=plain() or None, soft_wrap=True)


def warn(message: str) -> None:
    err().print(f"[bold yellow]warning:[/] {_escape(message)}")


def info(message: str) -> None:
    err().print(_escape(message))


def error(message: str, hint: str = "") -> None:
    line = f"[bold red]error:[/] {_escape(message)}"
    if hint:
        line += f" [dim]({_escape(hint)})[/]"
    err().print(line)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@contextmanager
def status(message: str):
    """A spinner while something slow runs; nothing at all when output is plain (CI, logs)."""
    if plain():
        yield
    else:
        with err().status(_escape(message)):
            yield


def print_json(data) -> None:
    import json

    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def progress(first: str):
    """A spinner whose text the caller updates: `with progress("x") as say: say("y")`."""
    if plain():
        yield lambda message: None
        return
    with err().status(_escape(first)) as live:
        yield lambda message: live.update(_escape(message))


@contextmanager
def tally(total: int, label: str):
    """For batches: `with tally(n, "grading") as done: done(line)` prints each finished item's
    line; in a terminal, under a bar with the count and time left."""
    if plain() or total < 2:
        yield info
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
        TimeRemainingColumn

    columns = (TextColumn(_escape(label)), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=err(), transient=True) as bar:
        task = bar.add_task(label, total=total)

        def done(line: str) -> None:
            bar.console.print(_escape(line))
            bar.advance(task)
        yield done


def show_diff(diff: str) -> None:
    if plain():
        sys.stdout.write(diff if diff.endswith("\n") else diff + "\n")
        return
    from rich.syntax import Syntax

    out().print(Syntax(diff, "diff", theme="ansi_dark", background_color="default"))


def one_line(text: str, width: int = 200) -> str:
    """A multi-line reason as one line: its lines joined, not just the first (which can be a
    bare heading like "some edits did not match:"), cut at `width`."""
    text = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return text if len(text) <= width else text[:width - 1].rstrip() + "…"


def rejections(candidates, limit: int = 4) -> list[str]:
    """Why candidates were rejected, one line each, with their status and votes."""
    lines = []
    for c in candidates:
        if c.verified or not c.reason:
            continue
        votes = f" ({c.votes} identical answers)" if c.votes > 1 else ""
        lines.append(f"  candidate rejected ({c.status.value}){votes}: {one_line(c.reason)}")
    return lines[:limit]
