"""Paths built from what a user or a file hands us: ids that become folder names, and outputs
that must not land on what the command reads."""

from __future__ import annotations

import re
from pathlib import Path

from patchlore.errors import PatchloreError

# One folder name: no separator, no `..`, not hidden, printable. SWE-bench's ids
# (owner__repo-1234) and our run ids (20261122-101500-ab12) are all of this shape.
_SAFE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+@=-]*")


def id_problem(value: str) -> str:
    """Why `value` cannot name a folder of its own ('' when it can)."""
    if _SAFE_ID.fullmatch(value) and ".." not in value and len(value) <= 200:
        return ""
    return (f"{value!r} is not a plain name (letters, digits, _ . - + @ =; no / or ..), so it "
            "cannot name a folder of its own")


def safe_id(value: str, what: str) -> str:
    """`value`, or an error saying `what` (a flag, a field) holds an id that would leave the
    folder it names a part of."""
    why = id_problem(value)
    if why:
        raise PatchloreError(f"{what}: {why}", hint="use an id such as 20261122-a")
    return value


def refuse_output_onto_inputs(output: Path, what: str, inputs: dict[str, Path]) -> None:
    """An error if `output` is, or lies inside, one of `inputs` ({name: path}): writing there
    would destroy what the command reads (a store's log, the dataset, the file just fixed)."""
    out = output.expanduser().resolve()
    for name, path in inputs.items():
        src = path.expanduser().resolve()
        if out == src or (src.is_dir() and out.is_relative_to(src)):
            raise PatchloreError(f"{what} {output}: would overwrite {name} ({path}), which "
                                 "this command reads; nothing was written",
                                 hint=f"pass {what} a path outside {src}")


def own_dir(root: Path) -> Path:
    """The repo's .patchlore folder (runs, practice), created with a .gitignore of its own so
    that git never sees what patchlore keeps there."""
    base = root / ".patchlore"
    base.mkdir(exist_ok=True)
    ignore = base / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# patchlore's own records (runs, practice): not part of the project\n*\n")
    return base
