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


class Interrupted(SystemExit):
    """Ctrl-C or SIGTERM, raised in the main thread so that `finally` blocks run (a sandbox's
    removal). It exits as a shell reports a death by that signal (130, 143): a library caller
    that does not catch it exits so; the CLI says so first (cli/app.py). Not a
    KeyboardInterrupt: typer turns that into a silent exit 130."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.how = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"


def _on_signal(signum, frame) -> None:
    raise Interrupted(signum)


def handle(*signums: int) -> None:
    """Turn these signals into Interrupted: the one handler of the CLI and of library use."""
    for signum in signums:
        signal.signal(signum, _on_signal)


def track(box) -> None:
    global _installed
    with _lock:
        _live.add(box)
        if not _installed:
            atexit.register(close_all)
            if threading.current_thread() is threading.main_thread():
                if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # library use
                    handle(signal.SIGTERM)
            _installed = True


def untrack(box) -> None:
    with _lock:
        _live.discard(box)
