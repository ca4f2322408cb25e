"""Options shared by several commands, so each is spelled and documented once.

A setting's flag is made from the setting's own metadata (config.Settings) by `setting()`; a
command names its parameter after the setting, and `load_settings()` reads every such
parameter from the command line, so no command lists its flags again to load them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer


def positive(value: float | None) -> float | None:
    """A callback for seconds and dollars: a number above zero (not nan, not inf), or unset."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"{value} must be a positive number")
    return value


def setting(name: str, command: str = "") -> Any:
    """The option that sets setting `name`, with its old flag on `command` (e.g. "fix") if it
    had one there. Its help says the variable, the file key and the default."""
    from patchlore.config import SETTINGS_META, env_of, flag_of

    meta, default, kind = SETTINGS_META[name]
    decls = [flag_of(name)]
    if "alias" in meta:
        decls.append("--" + meta["alias"].replace("_", "-"))
    old = meta.get("old_flags", {}).get(command)
    if old and old not in decls:
        decls.append(old)
    if "short" in meta:
        decls.append(meta["short"])
    if kind == "bool":
        decls = [f"{d}/--no-{d[2:]}" for d in decls[:1]]
    shown = "" if default in (None, "") else f", default {str(default).lower()}" \
        if kind == "bool" else f", default {default}"
    help_ = f"{meta['help']}. Setting {name} (${env_of(name)}{shown})."
    extra: dict[str, Any] = {}
    if kind == "int":
        extra = {"min": meta.get("min", 1), "max": meta.get("max")}
    elif kind == "float" and "min" not in meta:  # said as a flag's error, before any work
        extra = {"callback": positive}
    return typer.Option(None, *decls, help=help_, **extra)


def load_settings(repo: Path | None, **more: Any):
    """The settings for `repo`, with the running command's setting flags on top (its
    parameters named after settings) and `more` (values the command computed)."""
    try:  # typer vendors click since 0.26; older releases use click itself
        from typer._click.globals import get_current_context
    except ImportError:
        from click import get_current_context

    from patchlore.config import SETTING_NAMES, load_settings as load

    given = {k: str(v) if isinstance(v, Path) else v
             for k, v in get_current_context().params.items() if k in SETTING_NAMES}
    return load(repo, given | more)


def flags_by_setting(command, path: str = "") -> dict[str, dict[str, list[str]]]:
    """setting -> {command path: its flags}, for every command under the click `command`
    whose parameter is named after a setting (what `load_settings` reads)."""
    from patchlore.config import SETTING_NAMES

    found: dict[str, dict[str, list[str]]] = {}
    for name, sub in getattr(command, "commands", {}).items():
        for setting, where in flags_by_setting(sub, f"{path} {name}".strip()).items():
            found.setdefault(setting, {}).update(where)
    for param in getattr(command, "params", []):
        if param.name in SETTING_NAMES and param.param_type_name == "option":
            found.setdefault(param.name, {})[path] = [*param.opts, *param.secondary_opts]
    return found


REPO = typer.Option(
    Path("."), "--repo", "-r", help="The repository (default: the current directory)."
)
JSON = typer.Option(False, "--json", help="Print a machine-readable JSON result.")
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
INSTANCES = typer.Option(None, "--instances", help="Only these instance ids (repeat the flag).")
FILTER = typer.Option("", "--filter", help="Regex on instance ids.")
SLICE = typer.Option("", "--slice", help="A:B, after the other filters.")


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
