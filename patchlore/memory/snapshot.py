"""A snapshot of the replayed log, so opening a store reads one file and replays only the tail.

The log stays the source of truth: a snapshot is trusted only for the exact bytes it was made
from. It names the log's prefix it reflects (offset, and the SHA-256 of those bytes) and is
sealed by a SHA-256 of its own payload, so a snapshot cut short by a crash (torn) or made from
a log that was since replaced, truncated or edited (stale) is detected and ignored; the store
then replays the whole log and writes a fresh one. Checking the prefix hash costs a read of the
log (about 0.15 s per 60 MB here); when the log's size, inode and mtime are those the snapshot
saw, nothing was written since and the hash is skipped.

The payload is a pickle of the store's own records: it is written and read only by the store in
its own directory, like chromadb's files beside it.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"patchlore-snapshot-1\n"
FILE = "snapshot.pkl"
CHUNK = 1 << 20


@dataclass
class Snapshot:
    offset: int  # bytes of the log the records reflect
    digest: str  # SHA-256 of those bytes
    lines: int  # log lines up to offset, to name a bad line after them
    records: dict  # id -> Episode | Insight, in log order
    skipped: list[str]  # the warnings for bad lines before offset, said again on open
    stat: tuple[int, int, int] = (0, 0, 0)  # the log's (size, inode, mtime_ns) when it was read


def _log_stat(log: Path) -> tuple[int, int, int]:
    st = log.stat()
    return st.st_size, st.st_ino, st.st_mtime_ns


def prefix_digest(log: Path, offset: int) -> str | None:
    """SHA-256 of the log's first `offset` bytes; None if it is shorter than that."""
    h = hashlib.sha256()
    left = offset
    try:
        with log.open("rb") as fh:
            while left:
                block = fh.read(min(CHUNK, left))
                if not block:
                    return None
                h.update(block)
                left -= len(block)
    except OSError:
        return None
    return h.hexdigest()


def load(directory: Path, log: Path) -> Snapshot | None:
    """The snapshot in `directory` if it is whole and reflects a prefix of `log`, else None."""
    try:
        raw = (directory / FILE).read_bytes()
    except OSError:
        return None
    head = len(MAGIC) + 32
    if not raw.startswith(MAGIC) or len(raw) < head:
        return None
    body = raw[head:]
    if hashlib.sha256(body).digest() != raw[len(MAGIC):head]:
        return None  # torn or damaged
    collecting = gc.isenabled()
    gc.disable()  # the collector, run again and again over a growing graph, tripled load time
    try:
        snap = pickle.loads(body)
    except Exception:  # unpickling raises many types on a payload of another release
        return None
    finally:
        if collecting:
            gc.enable()
    if not isinstance(snap, Snapshot):
        return None
    try:
        now = _log_stat(log)
    except OSError:
        return None
    if now[0] < snap.offset:
        return None  # the log was truncated or replaced
    if now != snap.stat and prefix_digest(log, snap.offset) != snap.digest:
        return None  # stale: the bytes it was made from are not the log's any more
    return snap


def save(directory: Path, log: Path, snap: Snapshot) -> None:
    """Write atomically (a reader sees the old snapshot or the new one, whole)."""
    try:
        size, ino, mtime = _log_stat(log)
    except OSError:
        return
    # the stat shortcut holds only if the log is exactly what the snapshot reflects
    snap.stat = (size, ino, mtime) if size == snap.offset else (0, 0, 0)
    body = pickle.dumps(snap, protocol=pickle.HIGHEST_PROTOCOL)
    tmp = directory / f".{FILE}.{os.getpid()}.tmp"
    try:
        with tmp.open("wb") as fh:
            fh.write(MAGIC + hashlib.sha256(body).digest() + body)
        os.replace(tmp, directory / FILE)
    except OSError:  # a snapshot is an optimisation: a full disk only costs the next open
        tmp.unlink(missing_ok=True)
