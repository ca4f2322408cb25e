"""Options shared by several commands, so each is spelled and documented once."""

from __future__ import annotations

import math
from pathlib import Path

import typer


def positive(value: float | None) -> float | None:
    """A callback for seconds and dollars: a number above zero (not nan, not inf), or unset."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"{value} must be a positive number")
    return value


REPO = typer.Option(
    Path("."), "--repo", "-r", help="The repository (default: the current directory)."
)
JSON = typer.Option(False, "--json", help="Print a machine-readable JSON result.")
SANDBOX = typer.Option(None, "--sandbox", help="auto, docker or local.")
IMAGE = typer.Option(None, "--image", help="Sandbox image.")
WORKDIR = typer.Option(
    None, "--workdir", help="Repo path inside the image (the repo is then not copied in)."
)
TIMEOUT = typer.Option(None, "--timeout", callback=positive,
                       help="Seconds before the command is killed.")
MEMORY = typer.Option(None, "--memory", help="Memory store directory (default: setting).")
MEMORY_URL = typer.Option(None, "--memory-url",
                          help="A shared `chroma run` server, e.g. http://127.0.0.1:8000.")
MEMORY_MODE = typer.Option(None, "--memory-mode",
                           help="off, read (recall only) or online (recall and learn).")
DATASET = typer.Option(..., "--dataset", help=".json, .jsonl or .parquet instances, "
                       "or a Hugging Face dataset name.")
SPLIT = typer.Option("test", "--split", help="Split of a Hugging Face dataset.")
TEMPLATE_KEYS = ("instance_id", "owner", "name", "id_1776")


def image_template(value: str) -> str:
    """A callback: the template names only the keys it is given (else a KeyError per row)."""
    try:
        value.format(**{k: "x" for k in TEMPLATE_KEYS})
    except (KeyError, IndexError, ValueError) as exc:
        raise typer.BadParameter(f"{value!r} is not a template of "
                                 f"{', '.join('{' + k + '}' for k in TEMPLATE_KEYS)} ({exc!r})")
    return value


IMAGE_TEMPLATE = typer.Option(
    "", "--image-template", callback=image_template, help="Per-instance image with the repo inside, e.g. "
    "swebench/sweb.eval.x86_64.{id_1776}:latest ({instance_id}, {owner}, {name}, {id_1776}).")
SETUP = typer.Option(
    None, "--setup/--no-setup", help="Install the repo's requirements into an image derived "
    "from the sandbox image (built once, then reused; the build may use the network, tests "
    "never do). Default: the setup setting (on).")
AGENT = typer.Option(None, "--agent", help="pipeline (one request for N SEARCH/REPLACE "
                     "answers) or explore (N explorations, each working in its own sandbox's "
                     "shell). Default: the agent setting (pipeline).")
MAX_STEPS = typer.Option(40, "--max-steps", min=1, help="With --agent explore: model replies "
                         "per exploration and round.")
INSTANCES = typer.Option(None, "--instances", help="Only these instance ids (repeat the flag).")
FILTER = typer.Option("", "--filter", help="Regex on instance ids.")
SLICE = typer.Option("", "--slice", help="A:B, after the other filters.")
IMAGE_WORKDIR = typer.Option(None, "--workdir",
                             help="The repo's path in those images (default /testbed).")


def check_writable(path: Path) -> None:
    """Say now, before a long run, that a file cannot be written (nothing is left behind)."""
    from patchlore.errors import PatchloreError

    existed = path.exists()
    try:
        with path.open("a"):
            pass
    except OSError as exc:
        raise PatchloreError(f"{path}: cannot be written ({exc.strerror})",
                             hint="pass a path in a directory you can write to") from None
    if not existed:
        path.unlink()


def one_of(flag: str, value: str, allowed: tuple[str, ...]) -> str:
    """`value` if it is one of `allowed`, else the usage error that names the flag."""
    if value not in allowed:
        from patchlore.errors import PatchloreError

        raise PatchloreError(f"{flag} {value!r}: use {', '.join(allowed[:-1])} or {allowed[-1]}")
    return value


def issue_text(issue: str | None, issue_file: Path | None) -> str:
    """The bug report from --issue or --issue-file ("" for neither)."""
    from patchlore.errors import PatchloreError

    if issue and issue_file:
        raise PatchloreError("--issue and --issue-file both given", hint="give one of them")
    if not issue_file:
        return issue or ""
    try:
        return issue_file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise PatchloreError(f"{issue_file}: {exc.strerror}",
                             hint="pass --issue-file a readable text file") from None
