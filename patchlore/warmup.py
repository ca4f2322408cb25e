"""Heavy imports (litellm, chromadb, bm25s: seconds on a cold start) begun in a thread while the
process only waits on something else (the baseline tests in the sandbox), and `heavy()`, which
every place that needs one of them imports it through. It waits until the thread has imported
that one: two threads importing one library's modules at once can deadlock on the import
locks (Python then hands one of them a half-initialized module)."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable

_pending: dict[str, threading.Event] = {}
_lock = threading.Lock()
_warmers: set[int] = set()  # the warm-up threads' idents: heavy() never waits in them


def start(imports: list[tuple[str, Callable[[], object] | None]]) -> None:
    """Import each (name, how: None for a plain import) in order, in a daemon thread. A
    failure is left to heavy(), which raises it again where it is handled; a process that
    exits first does not wait."""
    with _lock:
        todo = [(name, how, _pending.setdefault(name, threading.Event()))
                for name, how in imports if name not in _pending]

    def run() -> None:
        _warmers.add(threading.get_ident())
        for name, how, done in todo:
            try:
                (how or (lambda: importlib.import_module(name)))()
            except Exception:  # heavy() imports it again and raises where it is handled
                pass
            finally:
                done.set()

    if todo:
        threading.Thread(target=run, name="patchlore-warmup", daemon=True).start()


def heavy(name: str):
    """The module `name`, once a warm-up importing it is done."""
    done = _pending.get(name)
    if done is not None and threading.get_ident() not in _warmers:
        done.wait()
    return importlib.import_module(name)
