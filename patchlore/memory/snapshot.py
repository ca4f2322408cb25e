"""A snapshot of the replayed log, so opening a store reads one small file and replays only the
tail.

The log stays the source of truth, and holds the records' bytes: the snapshot is an index into
it, column-wise (the records' ids in log order; for each, where its current line is in the log,
and the few facts recall filters on), so opening builds no record at all (see records.py).
It is trusted only for the exact bytes it was made from: it names the log's prefix it reflects
(offset, and the SHA-256 of those bytes) and is sealed by a SHA-256 of its own payload, so a
snapshot cut short by a crash (torn) or made from a log that was since replaced, truncated or
edited (stale) is detected and ignored; the store then replays the whole log and writes a
fresh one. Checking the prefix hash costs a read of the log (0.05 s per 70 MB here); when the
log's size, inode and mtime are those the snapshot saw, nothing was written since and the
hash is skipped.

The payload is a pickle of builtins (lists, bytes, tuples): it is written and read only by the
store in its own directory, like chromadb's files beside it.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAGIC = b"patchlore-snapshot-2\n"
FILE = "snapshot.pkl"
CHUNK = 1 << 20


@dataclass
class Snapshot:
    offset: int  # bytes of the log the records reflect
    digest: str  # SHA-256 of those bytes
    lines: int  # log lines up to offset, to name a bad line after them
    skipped: list[str]  # the warnings for bad lines before offset, said again on open
    ids: list[str]  # the records, in log order
    spans: array  # 'q': (offset, length) in the log of each record's current line
    facet_of: array  # 'i': each record's index into facets
    facets: list[tuple]  # (kind, recallable, repo, language), see records.facet
    stat: tuple[int, int, int] = (0, 0, 0)  # the log's (size, inode, mtime_ns) when it was read

    def payload(self) -> tuple:
        return (self.offset, self.digest, self.lines, self.skipped, self.ids,
                self.spans.tobytes(), self.facet_of.tobytes(), self.facets, self.stat)

    @classmethod
    def from_payload(cls, p: tuple) -> Snapshot:
        offset, digest, lines, skipped, ids, spans, facet_of, facets, stat = p
        return cls(offset, digest, lines, skipped, ids, array("q", spans),
                   array("i", facet_of), facets, stat)


def _stat(fh: BinaryIO) -> tuple[int, int, int]:
    st = os.fstat(fh.fileno())
    return st.st_size, st.st_ino, st.st_mtime_ns


def prefix_hasher(log: Path | BinaryIO, offset: int):
    """A SHA-256 fed the log's first `offset` bytes (it can be fed what follows); None if the
    log is shorter than that."""
    h = hashlib.sha256()
    left = offset
    try:
        fh = log.open("rb") if isinstance(log, Path) else log
        try:
            fh.seek(0)
            while left:
                block = fh.read(min(CHUNK, left))
                if not block:
                    return None
                h.update(block)
                left -= len(block)
        finally:
            if isinstance(log, Path):
                fh.close()
    except OSError:
        return None
    return h


def load(directory: Path, log: Path):
    """(snapshot, the log opened to read records from, the prefix's hasher or None when the
    stat shortcut skipped it) if the snapshot in `directory` is whole and reflects a prefix of
    `log`; else None."""
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
        snap = Snapshot.from_payload(pickle.loads(body))
    except Exception:  # unpickling raises many types on a payload of another release
        return None
    finally:
        if collecting:
            gc.enable()
    try:
        fh = log.open("rb")  # the records are read through this, the file checked here
        now = _stat(fh)
    except OSError:
        return None
    hasher = None
    if now[0] < snap.offset:
        fh.close()
        return None  # the log was truncated or replaced
    if now != snap.stat:
        hasher = prefix_hasher(fh, snap.offset)
        if hasher is None or hasher.hexdigest() != snap.digest:
            fh.close()
            return None  # stale: the bytes it was made from are not the log's any more
    return snap, fh, hasher


def save(directory: Path, log: Path, snap: Snapshot) -> None:
    """Write atomically (a reader sees the old snapshot or the new one, whole)."""
    try:
        st = log.stat()
    except OSError:
        return
    # the stat shortcut holds only if the log is exactly what the snapshot reflects
    snap.stat = ((st.st_size, st.st_ino, st.st_mtime_ns) if st.st_size == snap.offset
                 else (0, 0, 0))
    body = pickle.dumps(snap.payload(), protocol=pickle.HIGHEST_PROTOCOL)
    tmp = directory / f".{FILE}.{os.getpid()}.tmp"
    try:
        with tmp.open("wb") as fh:
            fh.write(MAGIC + hashlib.sha256(body).digest() + body)
        os.replace(tmp, directory / FILE)
    except OSError:  # a snapshot is an optimisation: a full disk only costs the next open
        tmp.unlink(missing_ok=True)
