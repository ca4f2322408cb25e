"""`--help` without importing typer. Importing typer alone takes longer than the 0.1 s a help
screen may take, so the text typer printed for a help request is kept on disk and printed
again for the same request, until anything that shapes it changes. The key holds all of that:
the request (argv[0] and the words), the inputs of the terminal's width, the Python, typer and
click, every patchlore source file (path, size, mtime), and the PATCHLORE_* variables. A
request that misses is answered by typer, and its text kept. This module imports only what
`python -c pass` has already imported, plus hashlib."""

from __future__ import annotations

import os
import sys

HELP_FLAGS = ("-h", "--help")


def is_request(argv: list[str]) -> bool:
    """`[command words...] --help`: what the cache answers (options before --help could be
    anything, so they go to typer)."""
    return bool(argv) and argv[-1] in HELP_FLAGS and all(
        w[:1].isalpha() and w.replace("-", "").isalnum() for w in argv[:-1])


def _root() -> str:
    """Where the texts live: $PATCHLORE_CACHE_DIR, else the user cache dir. On Linux that is
    platformdirs' rule, spelled out here because importing platformdirs costs 30 ms."""
    base = os.environ.get("PATCHLORE_CACHE_DIR", "")
    if not base and sys.platform.startswith("linux"):
        base = os.path.join(os.environ.get("XDG_CACHE_HOME", "").strip()
                            or os.path.expanduser("~/.cache"), "patchlore")
    if not base:
        from platformdirs import user_cache_dir

        base = user_cache_dir("patchlore")
    return os.path.join(base, "help")


def _sources(top: str) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        found += [os.path.join(folder, f) for f in sorted(files) if f.endswith(".py")]
    return found


def _state() -> str:
    """A digest of the code that draws the help: patchlore's sources, typer's and click's
    entry modules (a new release replaces them), the Python."""
    import hashlib
    from importlib.util import find_spec

    parts = [sys.version]
    files = _sources(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for lib in ("typer", "click"):
        spec = find_spec(lib)
        files += [spec.origin] if spec and spec.origin else []
    for path in files:
        st = os.stat(path)
        parts.append(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _width_inputs() -> str:
    """What shutil.get_terminal_size, and so click's help formatter, reads."""
    try:
        size = os.get_terminal_size(sys.__stdout__.fileno())
    except (AttributeError, ValueError, OSError):
        size = None
    return f"{os.environ.get('COLUMNS', '')}\0{size}"


def _path(argv: list[str]) -> tuple[str, str]:
    import hashlib

    env = sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("PATCHLORE_"))
    request = "\0".join([sys.argv[0], *argv, _width_inputs(), *env])
    state = os.path.join(_root(), _state())
    return state, os.path.join(state, hashlib.sha256(request.encode()).hexdigest()[:32] + ".txt")


def serve(argv: list[str]) -> bool:
    """Print the kept text for this help request; False when there is none."""
    if not is_request(argv):
        return False
    try:
        with open(_path(argv)[1], encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, ValueError):
        return False
    sys.stdout.write(text)
    sys.stdout.flush()
    return True


def keep(argv: list[str], text: str) -> None:
    """Keep what typer printed; only the texts of the 8 states of the code written last are kept
    (installs side by side share the folder). A cache that cannot be written costs only the
    speed."""
    import shutil

    try:
        state, path = _path(argv)
        os.makedirs(state, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
        root = os.path.dirname(state)
        states = sorted((os.path.join(root, d) for d in os.listdir(root)),
                        key=os.path.getmtime, reverse=True)
        for old in states[8:]:
            shutil.rmtree(old, ignore_errors=True)
    except OSError:
        pass
