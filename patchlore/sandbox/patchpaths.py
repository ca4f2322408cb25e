"""The files a unified diff touches, and the check every patch route makes before applying one:
no path may leave the repo (absolute, or climbing out with `..`). `patch -p1` would otherwise
turn `+++ /tmp/x` into a file inside the repo, and `--apply` on the host fail later, or worse.
"""

from __future__ import annotations

import re

from patchlore.errors import PatchloreError

# the header lines that name files: ---/+++, git's own header, renames and copies
_HEADER = re.compile(r"^(?:--- |\+\+\+ |rename from |rename to |copy from |copy to )(.+)$|"
                     r"^diff --git (\S+) (\S+)$", re.MULTILINE)


def _clean(raw: str) -> str:
    path = raw.split("\t")[0].strip()
    if len(path) > 1 and path[0] == path[-1] == '"':
        path = path[1:-1]  # git quotes paths with unusual characters
    return path


def touched_paths(patch: str) -> list[str]:
    """Every path the diff names, as written (a/ and b/ prefixes removed; /dev/null left out)."""
    out = set()
    for m in _HEADER.finditer(patch):
        for raw in filter(None, m.groups()):
            path = _clean(raw)
            if path == "/dev/null":
                continue
            if m.group(0)[:4] in ("--- ", "+++ ", "diff"):
                path = re.sub(r"^[ab]/", "", path)
            out.add(path)
    return sorted(out)


def escaping_paths(patch: str) -> list[str]:
    """The paths of a diff that point outside the repo."""
    return [p for p in touched_paths(patch)
            if p.startswith(("/", "~")) or ".." in p.replace("\\", "/").split("/")]


def check_paths(patch: str, what: str = "the patch") -> None:
    """Raise if the diff would write outside the repo: one message for every route."""
    bad = escaping_paths(patch)
    if bad:
        raise PatchloreError(f"{what} writes outside the repo: {', '.join(bad[:3])}",
                             hint="paths in a diff must be relative to the repo root")
