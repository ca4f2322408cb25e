"""A slow Docker engine for tests: a unix-socket proxy in front of the real engine that answers
the client's handshake (`/_ping`, `/version`) at once and holds every other request back for
DELAY seconds before passing it on. An engine call then times out for certain, on a fast quiet
machine as on a loaded one, which a tiny client timeout against the real engine cannot promise."""

from __future__ import annotations

import os
import re
import socket
import tempfile
import threading
import time
from pathlib import Path

DELAY = 30.0
HANDSHAKE = re.compile(rb"^[A-Z]+ (/v[\d.]+)?/(_ping|version)[ ?]")


def _engine_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        raise RuntimeError(f"slow_engine proxies a unix socket, not {host}")
    return host[len("unix://"):]


class SlowEngine:
    """`with SlowEngine() as host:` gives a DOCKER_HOST whose calls beyond the handshake hang
    DELAY seconds. `hold` (a pattern of request lines) holds back only those, `delay` sets how
    long; `holding` is set once a request is held, `passed` once the held one went on, `answered`
once the engine answered after that."""

    def __init__(self, hold: bytes | None = None, delay: float = DELAY) -> None:
        self.hold, self.delay = (re.compile(hold) if hold else None), delay
        self.holding, self.passed, self.answered = (threading.Event() for _ in range(3))

    def _held(self, chunk: bytes) -> bool:
        if not re.match(rb"^[A-Z]+ /", chunk):
            return False
        return bool(self.hold.search(chunk.split(b"\r\n", 1)[0])) if self.hold else \
            not HANDSHAKE.match(chunk)

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        try:
            while chunk := src.recv(65536):
                if not from_client and self.passed.is_set():
                    self.answered.set()
                held = from_client and self._held(chunk)
                if held:
                    self.holding.set()
                    time.sleep(self.delay)
                dst.sendall(chunk)
                if held:
                    self.passed.set()
        except OSError:
            pass  # the client gave up (it timed out), or the engine closed: nothing to pass on
        finally:
            try:  # half-closed: an answer on its way back still comes in (and sets answered)
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def __enter__(self) -> str:
        self.dir = Path(tempfile.mkdtemp(prefix="slow-engine-"))  # short: socket paths ≤ 107
        self.path = self.dir / "engine.sock"
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(str(self.path))
        self.server.listen(16)
        self.engine = _engine_socket()
        threading.Thread(target=self._serve, daemon=True).start()
        return f"unix://{self.path}"

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return  # closed at exit
            engine = socket.socket(socket.AF_UNIX)
            engine.connect(self.engine)
            threading.Thread(target=self._pump, args=(client, engine, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(engine, client, False), daemon=True).start()

    def __exit__(self, *exc) -> None:
        self.server.close()
        self.path.unlink(missing_ok=True)
        self.dir.rmdir()
