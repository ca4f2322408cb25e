"""Live sandboxes of this process, closed at exit and on SIGTERM so no container is left behind."""

from __future__ import annotations

import atexit
import contextlib
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


class _Hold:
    on = False  # a held call is under way in the main thread
    came: list[int] = []  # the signals that came meanwhile


def _on_signal(signum, frame) -> None:
    if _Hold.on and not _Hold.came:  # the first one waits for the held call; a second not
        _Hold.came.append(signum)
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def held():
    """Hold an interrupt back until the block ends: for an engine call that makes a thing (a
    container) whose handle only its answer brings. Interrupted inside, the answer is lost
    while the engine makes the thing anyway, too late for a removal by name to find it."""
    if threading.current_thread() is not threading.main_thread() or _Hold.on:
        yield  # signals reach the main thread only; an outer hold already holds
        return
    _Hold.on, _Hold.came = True, []
    try:
        yield
    finally:
        _Hold.on, came = False, _Hold.came
        if came:
            raise Interrupted(came[0])


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
