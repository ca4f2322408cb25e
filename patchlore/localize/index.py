"""A repo's search index: its files cut into structural chunks (chunks.py), each chunk's words
in a BM25 index. Built once per repo state and kept on disk under the user cache dir, keyed
by git's blob ids of the tracked files and the content hashes of changed and untracked ones;
a second call for the same state loads it (or finds it in this process) instead of rebuilding.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import astuple, dataclass, field
from functools import lru_cache
from itertools import chain
from pathlib import Path

from patchlore.localize.chunks import Chunk, chunk_file
from patchlore.warmup import heavy

VERSION = "2"  # bump when what is indexed, or how it is cut or tokenized, changes
KEEP = 32  # indexes kept on disk
INDEX_LIMIT = 1_000_000  # larger files are data, not code: not indexed (still editable)
CODE_SUFFIXES = (".py", ".pyi", ".pyx", ".pxd", ".c", ".h", ".cc", ".cpp", ".hpp", ".cu", ".rs",
                 ".go", ".java", ".kt", ".scala", ".js", ".jsx", ".ts", ".tsx", ".mjs", ".rb",
                 ".php", ".cs", ".swift", ".sh", ".pl", ".lua", ".jl", ".r", ".R")
DOC_SUFFIXES = (".md", ".rst", ".txt", ".adoc")
CONFIG_SUFFIXES = (".cfg", ".toml", ".ini", ".yaml", ".yml")
TEST_PATH = re.compile(r"(^|/)(tests?/|testing/|test_[^/]*\.py$|[^/]*_test\.py$|conftest\.py$)")
DOC_PATH = re.compile(r"(^|/)(docs?|examples?|benchmarks?|\.github|changelog\.d|changes)/"
                      r"|(^|/)(README|CHANGE|HISTORY|"
                      r"NEWS|CONTRIBUTING|AUTHORS|LICENSE)[^/]*$", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
STOP = frozenset("""a an and are as at be but by for from has have if in into is it its not of on
or so that the then there these this to was were will with self cls def return none true false
import py else elif pass""".split())


def tokens(text: str) -> list[str]:
    """Words for BM25: each identifier whole (lower-cased) and, if it has several, its parts
    (snake_case and CamelCase split), so `get_fill_value` meets "fill value" and the reverse."""
    return list(chain.from_iterable(map(_word, _WORD.findall(text))))


@lru_cache(maxsize=100_000)
def _word(word: str) -> tuple[str, ...]:
    low = word.lower()
    out = [low] if len(low) > 1 and low not in STOP else []
    parts = _PART.findall(word)
    if len(parts) > 1:
        out += [p for p in (x.lower() for x in parts) if len(p) > 1 and p not in STOP]
    return tuple(out)


def file_kind(path: str) -> str:
    """code, test, doc or config: search shows code first, docs only when asked about."""
    if TEST_PATH.search(path):
        return "test"
    if path.endswith(DOC_SUFFIXES) or DOC_PATH.search(path):
        return "doc"
    if path.endswith(CONFIG_SUFFIXES):
        return "config"
    return "code"


def indexable(path: str) -> bool:
    """Source, docs and config; not tests (a fix goes in the code under test: the failing
    tests' own files are read when they fail) nor the fixtures in test folders."""
    if TEST_PATH.search(path):
        return False
    return path.endswith(CODE_SUFFIXES + DOC_SUFFIXES + CONFIG_SUFFIXES)


def read_text(root: Path, path: str, limit: int | None = None) -> str | None:
    """The file's text, or None if it is missing, a symlink, binary, or over `limit` bytes."""
    p = root / path
    try:
        if p.is_symlink() or not p.is_file() or (limit is not None and p.stat().st_size > limit):
            return None
        data = p.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass
class RepoIndex:
    root: Path
    chunks: list[Chunk]
    sizes: dict[str, int]  # every indexed file: its size in bytes
    retriever: object = field(repr=False)  # bm25s.BM25 over the chunks, in order; None when
    # no chunk has a searchable word (no source, one-letter names, all stop words): bm25s
    # cannot index an empty vocabulary, and there is nothing for a search to find
    key: str = ""
    _by_path: dict[str, list[Chunk]] = field(default_factory=dict, repr=False)

    def scores(self, query: list[str]):
        """BM25 score of every chunk for these words (a numpy array)."""
        return self.retriever.get_scores(query) if query and self.retriever else None

    def __post_init__(self) -> None:
        for c in self.chunks:  # built here, not on first use: threads may share an index
            self._by_path.setdefault(c.path, []).append(c)

    def file_chunks(self, path: str) -> list[Chunk]:
        return self._by_path.get(path, [])

    def defs(self, path: str) -> list[str]:
        """Top-level classes and functions of a file, in order."""
        return list(dict.fromkeys(c.name for c in self.file_chunks(path)
                                  if c.name and "." not in c.name))


def cache_root() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("patchlore"))


def state(root: Path, files: list[str]) -> tuple[str, dict[str, str]]:
    """The repo's content as the index sees it: a key for the whole, and an id per indexed
    file (git's blob id when unchanged, else a hash of the content)."""
    h = hashlib.sha256(f"{VERSION}\n".encode())
    wanted = {f for f in files if indexable(f)}
    blobs = {}
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-s", "-z"], capture_output=True)
    for entry in out.stdout.decode("utf-8", "surrogateescape").split("\0"):
        meta, _, path = entry.partition("\t")
        if path in wanted and len(meta.split()) >= 2:
            blobs[path] = meta.split()[1]
    dirty = subprocess.run(["git", "-C", str(root), "ls-files", "-m", "-z"], capture_output=True)
    for path in dirty.stdout.decode("utf-8", "surrogateescape").split("\0"):
        blobs.pop(path, None)
    for path in sorted(wanted):
        if path not in blobs:
            try:
                blobs[path] = hashlib.sha1((root / path).read_bytes()).hexdigest()
            except OSError:
                blobs[path] = "-"
        h.update(f"{path}\0{blobs[path]}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:32], blobs


class _ChunkCache:
    """Chunk boundaries by file content id, shared by every index on this machine: a new
    state of a repo (one file edited, another commit) parses only the files that changed."""

    def __init__(self, path: Path) -> None:
        import sqlite3

        self.db = None
        self.new: list[tuple[str, str]] = []
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=30)
            self.db.execute("CREATE TABLE IF NOT EXISTS chunks (blob TEXT PRIMARY KEY, data TEXT)")
        except (OSError, sqlite3.Error):
            self.db = None  # no cache: everything is parsed

    def get(self, blob: str, path: str) -> list[Chunk] | None:
        if self.db is None:
            return None
        row = self.db.execute("SELECT data FROM chunks WHERE blob = ?", (blob,)).fetchone()
        return [Chunk(path, *c) for c in json.loads(row[0])] if row else None

    def put(self, blob: str, chunks: list[Chunk]) -> None:
        self.new.append((blob, json.dumps([astuple(c)[1:] for c in chunks])))

    def close(self) -> None:
        import sqlite3

        if self.db is None:
            return
        try:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO chunks VALUES (?, ?)", self.new)
        except sqlite3.Error:
            pass  # a locked or read-only cache: parsed again next time
        self.db.close()


def build(root: Path, files: list[str], key: str = "",
          blobs: dict[str, str] | None = None) -> RepoIndex:
    bm25s = heavy("bm25s")

    cache = _ChunkCache(cache_root() / "chunks.sqlite")
    chunks, sizes, corpus = [], {}, []
    for path in files:
        if not indexable(path):
            continue
        text = read_text(root, path, INDEX_LIMIT)
        if text is None:
            continue
        sizes[path] = len(text)
        lines = text.splitlines()
        path_words = tokens(path)
        blob = f"{VERSION}:{blobs[path]}" if blobs and path in blobs else ""
        mine = cache.get(blob, path) if blob else None
        if mine is None:
            mine = chunk_file(path, text)
            if blob:
                cache.put(blob, mine)
        for c in mine:
            chunks.append(c)
            body = "\n".join(lines[c.start - 1:c.end])
            corpus.append(path_words + tokens(c.name) + tokens(body))
    cache.close()
    retriever = None
    if any(corpus):
        retriever = bm25s.BM25()
        retriever.index(corpus, show_progress=False)
    return RepoIndex(root, chunks, sizes, retriever, key)


def load_or_build(root: Path, files: list[str]) -> RepoIndex:
    """The index for the repo as it is now: from disk, or built (and saved). Whoever needs it
    again holds it (a repair, Repair.repo_index): no cache in the module."""
    key, blobs = state(root, files)
    where = cache_root() / "index" / key
    index = _load(root, where, key)
    if index is None:
        index = build(root, files, key, blobs)
        _save(index, where)
    return index


def _load(root: Path, where: Path, key: str) -> RepoIndex | None:
    bm25s = heavy("bm25s")

    try:
        meta = json.loads((where / "chunks.json").read_text())
        chunks = [Chunk(*c) for c in meta["chunks"]]
        retriever = bm25s.BM25.load(str(where / "bm25"), show_progress=False) \
            if meta.get("searchable", bool(chunks)) else None
        os.utime(where)  # recently used: kept by _prune
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or damaged: rebuilt
    return RepoIndex(root, chunks, meta["sizes"], retriever, key)


def _save(index: RepoIndex, where: Path) -> None:
    """Write to a temporary directory, then rename: a reader never sees half an index."""
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=where.parent, prefix=".tmp-"))
        (tmp / "chunks.json").write_text(json.dumps(
            {"chunks": [astuple(c) for c in index.chunks], "sizes": index.sizes,
             "searchable": index.retriever is not None}))
        if index.retriever is not None:
            index.retriever.save(str(tmp / "bm25"), show_progress=False)
        try:
            tmp.rename(where)
        except OSError:  # another process saved the same state first
            shutil.rmtree(tmp, ignore_errors=True)
        _prune(where.parent)
    except OSError:
        pass  # a read-only cache costs a rebuild next time, nothing else


def _prune(parent: Path, keep: int = KEEP) -> None:
    """Only the most recently built indexes stay: each state of each repo adds one."""
    built = sorted((d for d in parent.iterdir() if not d.name.startswith(".")),
                   key=lambda d: d.stat().st_mtime, reverse=True)
    for old in built[keep:]:
        shutil.rmtree(old, ignore_errors=True)
