"""Bounded capture of a command's output: keep the head and the tail, count what was cut."""

from __future__ import annotations

# A command that keeps printing past this many times the kept limit is killed: reading
# gigabytes only to throw them away would stall the run.
KILL_FACTOR = 64


class OutputCap:
    def __init__(self, limit: int) -> None:
        self.half = max(limit // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > 2 * self.half:  # trim in batches, not on every chunk
                del self.tail[: len(self.tail) - self.half]

    @property
    def cut(self) -> int:
        return max(self.total - len(self.head) - min(len(self.tail), self.half), 0)

    def text(self, name: str) -> str:
        tail = bytes(self.tail[-self.half :]) if self.tail else b""
        body = bytes(self.head)
        if self.cut:
            body += f"\n[... patchlore cut {self.cut} bytes of {name} ...]\n".encode()
        return (body + tail).decode("utf-8", "replace")
