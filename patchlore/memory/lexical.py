"""Recall's BM25 index (bm25s) over one kind of record, kept on disk beside the log's snapshot.

An index is keyed by the log's content (the offset and SHA-256 of the bytes the records came
from, as the snapshot is) and by the filter it was built for, so a process opening an unchanged
store loads it instead of tokenizing and indexing every record (2.6 s at 100k). Any change to
the log makes a new key and the index is built afresh: BM25's weights depend on every document,
so an index is exact only for the records it was built from. A saved index is written to a
directory of its own and renamed into place, and sealed by the SHA-256 of its files: a torn or
damaged one is ignored (and rebuilt), never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from patchlore.warmup import heavy

DIR = "lexical"
SEAL = "seal.json"
IDS = "ids.json"


class Index:
    def __init__(self, ids: list[str], retriever) -> None:
        self.ids, self.retriever = ids, retriever

    @classmethod
    def build(cls, ids: list[str], texts: list[str]) -> Index:
        bm25s = heavy("bm25s")

        retriever = None
        if ids:
            retriever = bm25s.BM25()
            retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False),
                            show_progress=False)
        return cls(ids, retriever)

    def search(self, query: str, k: int) -> list[str]:
        bm25s = heavy("bm25s")

        if self.retriever is None or not query.strip():
            return []
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        docs, scores = self.retriever.retrieve(tokens, k=min(k, len(self.ids)),
                                               show_progress=False)
        return [self.ids[i] for i, s in zip(docs[0], scores[0]) if s > 0]


def _name(what: tuple) -> str:
    return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]


def _files(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.iterdir()) if p.name != SEAL}


def _whole(path: Path, what: tuple, key: tuple[int, str]) -> bool:
    try:
        seal = json.loads((path / SEAL).read_text())
        return seal == {"what": list(what), "key": list(key), "files": _files(path)}
    except (OSError, ValueError):
        return False


def load(store_dir: Path, what: tuple, key: tuple[int, str]) -> Index | None:
    """The index of `what` (kind and filter) saved for content `key`, if whole; else None."""
    bm25s = heavy("bm25s")

    path = store_dir / DIR / f"{_name(what)}-{_name(key)}"
    if not _whole(path, what, key):
        return None
    try:
        ids = json.loads((path / IDS).read_text())
        if not ids:
            return Index([], None)
        return Index(ids, bm25s.BM25.load(str(path), show_progress=False))
    except Exception:  # missing, torn, or of another bm25s: bm25s raises many types
        return None


def save(store_dir: Path, what: tuple, key: tuple[int, str], index: Index) -> None:
    """Write atomically and drop the older indexes of `what`; a failure only costs a rebuild."""
    root = store_dir / DIR
    final = root / f"{_name(what)}-{_name(key)}"
    tmp = root / f".{final.name}.{os.getpid()}.tmp"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if index.retriever is not None:
            index.retriever.save(str(tmp), show_progress=False)
        (tmp / IDS).write_text(json.dumps(index.ids))
        (tmp / SEAL).write_text(json.dumps({"what": list(what), "key": list(key),
                                            "files": _files(tmp)}))
        if final.exists() and not _whole(final, what, key):
            shutil.rmtree(final, ignore_errors=True)  # a torn one
        try:
            tmp.rename(final)
        except OSError:  # another process saved the same index first
            shutil.rmtree(tmp, ignore_errors=True)
        for old in root.glob(f"{_name(what)}-*"):
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
