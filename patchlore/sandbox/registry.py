"""Live sandboxes of this process, closed at exit and on SIGTERM so no container is left behind."""

from __future__ import annotations

import atexit
import signal
import threading
import weakref

_live: "weakref.WeakSet" = weakref.WeakSet()
_lock = threading.Lock()
_installed = False


def close_all() -> None:
    with _lock:
        boxes = list(_live)
    for box in boxes:
        try:
            box.close()
        except Exception:
            pass


def _on_sigterm(signum, frame):  # turn SIGTERM into a normal exit so `finally` blocks run
    raise SystemExit(128 + signum)


def track(box) -> None:
    global _installed
    with _lock:
        _live.add(box)
        if not _installed:
            atexit.register(close_all)
            if threading.current_thread() is threading.main_thread():
                if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                    signal.signal(signal.SIGTERM, _on_sigterm)
            _installed = True


def untrack(box) -> None:
    with _lock:
        _live.discard(box)
