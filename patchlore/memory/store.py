"""The memory store: an append-only JSONL log (the source of truth) and a chromadb index of what
recall may return (verified episodes, active insights).

Every write takes a file lock, repairs a tail a crash left half-written, appends to the log, then
updates the index, so parallel workers and processes never lose or corrupt an entry. A thread
lock guards what one process holds (the read offset, the records, the chroma client), since
`eval run` shares one store across its worker threads. chromadb's local client is not
process-safe: a process that sees the index was changed by another one (the offset in
index.json moved) reopens its client before it reads or writes. `reindex()` rebuilds the index
from the log. With `url`, the index lives in a shared `chroma run` server instead.

A log line that cannot be used (not JSON, a wrong field type, a newer schema) is skipped with
one warning naming it, so one bad record never locks the user out of the rest. Opened with
`read_only`, the store writes nothing (no lock file, no index update): it works on a read-only
directory, and chroma queries a private copy of the index (memory/index_copy.py), since it
rewrites its files even to only read them.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from patchlore.errors import PatchloreError
from patchlore.memory.records import Records
from patchlore.memory.redact import redact_data
from patchlore.memory.schema import (ACTIVE, SCHEMA_VERSION, VERIFIED, Episode, Insight,
                                     from_dict, kind_of, problem, to_dict)
from patchlore.warmup import heavy

KINDS = {"episode": "episodes", "insight": "insights"}
WRITABLE_HINT = ("fix its permissions, pass --memory PATH to a writable directory, or use "
                 "--memory-mode read to recall without learning")


class MemoryStoreError(PatchloreError):
    pass


def _recallable(entry: dict) -> bool:
    data = entry["data"]
    if entry["kind"] == "episode":
        return data.get("outcome") == VERIFIED
    return data.get("status") == ACTIVE


def _entry(line: bytes) -> tuple[dict | None, str]:
    """A log line as an entry, or what is wrong with it. (None, "") for a blank line."""
    if not line.strip():
        return None, ""
    try:
        e = json.loads(line)
    except ValueError:
        return None, "not valid JSON; fix or delete that line"
    if not isinstance(e, dict):
        return None, "not a JSON object; fix or delete that line"
    v = e.get("v", 1)
    if isinstance(v, int) and v > SCHEMA_VERSION:
        return None, f"written by a newer patchlore (schema {v}); upgrade patchlore to read it"
    if e.get("op") not in ("put", "forget") or not isinstance(e.get("id"), str):
        why = "not a put or forget entry with an id"
    elif e["op"] == "forget":
        why = "" if e.get("kind") in KINDS else "a forget entry of no known kind"
    else:
        why = problem(e.get("kind"), e.get("data"))
    return (None, why + "; fix or delete that line") if why else (e, "")


class MemoryStore:
    SNAPSHOT_AFTER = 1000  # log lines replayed at open that make it write a snapshot

    def __init__(self, path: str | os.PathLike[str], url: str = "", embedder=None,
                 namespace: str = "patchlore", read_only: bool = False,
                 warn: Callable[[str], None] | None = None) -> None:
        from filelock import FileLock

        from patchlore.memory.embed import make_embedder

        self.path = Path(path).expanduser()
        self.read_only = read_only
        self.warn = warn or logging.getLogger("patchlore.memory").warning
        self._warned: set[str] = set()
        if not read_only:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise MemoryStoreError(f"memory directory {self.path}: {exc.strerror}",
                                       hint="pass --memory PATH to a writable directory") \
                    from None
        else:
            try:
                if not stat.S_ISDIR(self.path.stat().st_mode):
                    raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
            except FileNotFoundError:
                pass  # nothing there yet: an empty memory
            except OSError as exc:
                raise MemoryStoreError(f"memory directory {self.path}: {exc.strerror}",
                                       hint="pass --memory PATH to a memory directory") \
                    from None
        self.log_path = self.path / "log.jsonl"
        self.index_meta = self.path / "index.json"
        self.lock = FileLock(str(self.path / ".lock"), timeout=120)
        self._mutex = threading.RLock()  # this process's state, shared by its threads
        self.url = url
        self.namespace = namespace
        self.embedder = embedder or make_embedder()
        self.records = Records()
        self._read_offset = 0  # how much of the log self.records reflects
        # SHA-256 fed the log's bytes up to _read_offset (None: not known, see content_key)
        self._hasher = hashlib.sha256()
        self._known: tuple[int, str] = (0, "")  # a snapshot's (offset, digest), unhashed
        self._frozen = 0  # inside frozen(): the records are not refreshed
        self._lines_read = 0  # lines of the log up to _read_offset, to name a bad one
        self._index_seen = -1  # index.json's offset when our chroma client was opened
        self._skipped: list[str] = []  # warnings for bad lines up to _read_offset
        self._client = None
        self._cols: dict = {}
        self._index_copy = None  # read-only: the private copy chroma reads (index_copy.py)
        # kind -> (index.json's offset, records in its collection): chroma's count() took
        # half of a recall's time at 50k, and it changes only with the index
        self._counts: dict[str, tuple[int, int]] = {}
        # recall's BM25 indexes (memory/retrieve.py), by (kind, repo, language): (the log's
        # content key they were built for, the index); used inside frozen(), under _mutex
        self.lexical: dict[tuple, tuple] = {}
        if not read_only:
            self._check_writable()
        if url:
            self._open_client()
            self._refresh()
        else:
            self._open_from_snapshot()

    def _check_writable(self) -> None:
        """Before any work: a run that learns must be able to write, or say so now."""
        try:
            os.close(os.open(self.lock.lock_file, os.O_RDWR | os.O_CREAT, 0o644))
            if self.log_path.exists():
                self.log_path.open("r+b").close()
        except OSError as exc:
            raise MemoryStoreError(f"memory directory {self.path} is not writable "
                                   f"({exc.strerror})", hint=WRITABLE_HINT) from None

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.warn(message)

    # --- the log -------------------------------------------------------------------------
    def _open_from_snapshot(self) -> None:
        """Start from the snapshot of the log when it is whole and current, replay the tail,
        and write a fresh snapshot when that tail was long (the next open then skips it)."""
        from patchlore.memory import snapshot

        got = snapshot.load(self.path, self.log_path)
        if got is not None:
            snap, log, self._hasher = got
            self.records, self._read_offset = Records(log, snap), snap.offset
            self._known = (snap.offset, snap.digest)
            self._lines_read, self._skipped = snap.lines, list(snap.skipped)
            for n, message in enumerate(self._skipped):
                self._warn_once(f"snap{n}", message)
        start = self._lines_read
        self._refresh()
        if (not self.read_only and self._lines_read - start >= self.SNAPSHOT_AFTER
                and self._read_offset):
            key = self.content_key()
            if key is not None:
                snapshot.save(self.path, self.log_path, snapshot.Snapshot(
                    key[0], key[1], self._lines_read, list(self._skipped),
                    *self.records.columns()))

    def content_key(self) -> tuple[int, str] | None:
        """(offset, SHA-256) of the log bytes the records reflect: what a snapshot of them,
        or of an index built from them, is keyed by. None if the log is not there to hash."""
        with self._mutex:
            self._refresh()
            if self._hasher is None:
                if self._known[0] == self._read_offset:
                    return self._known
                self._hasher = snapshot.prefix_hasher(self.log_path, self._read_offset)
                if self._hasher is None:
                    return None
            return self._read_offset, self._hasher.hexdigest()

    def _refresh(self) -> None:
        """Read log lines written since we last looked (by us or by another process). With a
        shared server, the server's records are the team's memory: read them too."""
        with self._mutex:
            if self._frozen:
                return
            if self.url and self._client is not None:
                self._pull_server()
            try:
                with self.log_path.open("rb") as fh:
                    fh.seek(self._read_offset)
                    data = fh.read()
            except FileNotFoundError:
                return
            except OSError as exc:
                raise MemoryStoreError(f"memory log {self.log_path}: {exc.strerror}",
                                       hint="pass --memory PATH to a readable memory "
                                       "directory") from None
            end = data.rfind(b"\n") + 1  # a line still being written is read next time
            at = self._read_offset
            for line in data[:end].split(b"\n")[:-1]:
                self._lines_read += 1
                entry, why = _entry(line)
                if why:
                    message = f"memory: {self.log_path}:{self._lines_read}: skipped, {why}"
                    self._skipped.append(message)
                    self._warn_once(f"line{self._lines_read}", message)
                elif entry is not None:
                    self._apply(entry, at, len(line) + 1)
                at += len(line) + 1
            if self._hasher is not None and end:
                self._hasher.update(memoryview(data)[:end])
            self._read_offset += end

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """The records as they are now, for a reader that needs them to agree with each other
        (recall: the ids it filters by, the key of its BM25 index, the records it returns):
        other processes' writes are read after it; this process's other threads wait."""
        with self._mutex:
            self._refresh()
            self._frozen += 1
            try:
                yield
            finally:
                self._frozen -= 1

    def _pull_server(self) -> None:
        for kind, col in self._cols.items():
            total = col.count()
            for start in range(0, total, 1000):
                got = col.get(include=["metadatas"], offset=start, limit=1000)
                for rid, meta in zip(got["ids"], got["metadatas"]):
                    if meta and "record" in meta:
                        data = json.loads(meta["record"])
                        why = problem(kind, data)
                        if why:
                            self._warn_once(rid, f"memory: server record {rid}: {why}; skipped")
                        else:
                            self.records[rid] = from_dict(kind, data)

    def _apply(self, entry: dict, offset: int, length: int) -> None:
        if entry["op"] == "put":
            self.records.put(entry["id"], from_dict(entry["kind"], entry["data"]), offset,
                             length)
        else:
            self.records.pop(entry["id"], None)

    def _repair_tail(self) -> None:
        """A log not ending in a newline was cut by a crash mid-write (every writer holds the
        lock, as we do now): cut the partial record off, keeping its bytes in log.torn, so the
        next record starts on a line of its own instead of gluing onto it."""
        try:
            size = self.log_path.stat().st_size
        except FileNotFoundError:
            return
        if not size:
            return
        with self.log_path.open("r+b") as fh:
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            cut, pos = 0, size
            while pos > 0:  # back to the last newline, a block at a time
                start = max(0, pos - 65536)
                fh.seek(start)
                i = fh.read(pos - start).rfind(b"\n")
                if i >= 0:
                    cut = start + i + 1
                    break
                pos = start
            fh.seek(cut)
            torn = fh.read()
            aside = self.path / "log.torn"
            with aside.open("ab") as out:
                out.write(torn + b"\n")
            fh.truncate(cut)
            fh.flush()
            os.fsync(fh.fileno())
        if self._meta()["offset"] > cut:  # an index of a longer log: index this one afresh
            self.index_meta.write_text(json.dumps({"offset": 0}))
        self.warn(f"memory: {self.log_path} ended in a partial record ({len(torn)} bytes, a "
                  f"write cut short by a crash); cut it off and kept it in {aside}")

    def _check_not_read_only(self) -> None:
        if self.read_only:
            raise MemoryStoreError(f"memory at {self.path} was opened read-only",
                                   hint="use --memory-mode online to learn")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Both locks across a read-modify-write (an insight's credit): reads inside see the
        newest records and no other thread or process writes until the puts inside are logged,
        so two writers never both read count n and both write n+1."""
        self._check_not_read_only()
        with self._mutex, self.lock:
            self._refresh()
            yield

    def _append(self, entries: list[dict]) -> None:
        """Append under the lock, then bring the index up to date."""
        self._check_not_read_only()
        lines = b"".join((json.dumps(e, sort_keys=True) + "\n").encode() for e in entries)
        with self._mutex:
            try:
                with self.lock:
                    self._repair_tail()
                    with self.log_path.open("ab") as fh:
                        fh.write(lines)
                        fh.flush()
                        os.fsync(fh.fileno())
                    self._refresh()
                    self._sync_index_or_warn()
            except OSError as exc:
                raise MemoryStoreError(f"memory log {self.log_path}: could not write "
                                       f"({exc.strerror or exc})", hint=WRITABLE_HINT) from None

    def put(self, record: Episode | Insight) -> str:
        self.put_many([record])
        return record.id

    def put_many(self, records: list[Episode | Insight]) -> None:
        self._append([{"v": SCHEMA_VERSION, "op": "put", "kind": kind_of(r), "id": r.id,
                       "ts": time.time(), "data": redact_data(to_dict(r))} for r in records])

    def forget(self, record_id: str) -> bool:
        with self._mutex:
            self._refresh()
            if record_id not in self.records:
                return False
            self._append([{"v": SCHEMA_VERSION, "op": "forget",
                           "kind": kind_of(self.records[record_id]), "id": record_id,
                           "ts": time.time()}])
        return True

    # --- reading -------------------------------------------------------------------------
    def version(self) -> tuple[int, int]:
        """Changes whenever the records do: what caches built from them key on."""
        with self._mutex:
            self._refresh()
            return self._read_offset, len(self.records)

    def get(self, record_id: str) -> Episode | Insight | None:
        with self._mutex:
            self._refresh()
            return self.records.get(record_id)

    def episodes(self) -> list[Episode]:
        with self._mutex:
            self._refresh()
            return [self.records[i] for i in self.records.ids("episode")[0]]

    def insights(self, active_only: bool = False) -> list[Insight]:
        with self._mutex:
            self._refresh()
            found = [self.records[i] for i in self.records.ids("insight")[0]]
            return [r for r in found if r.status == ACTIVE or not active_only]

    def recallable(self, kind: str, repo: str | None = None,
                   language: str | None = None) -> tuple[list[str], frozenset[str]]:
        """Ids of what recall may return (verified episodes, active insights with credit),
        of `repo` and `language` if given, in log order and as a set; no record is read."""
        with self._mutex:
            self._refresh()
            return self.records.ids(kind, recallable=True, repo=repo, language=language)

    # --- the vector index ----------------------------------------------------------------
    def _meta(self) -> dict:
        try:
            meta = json.loads(self.index_meta.read_text())
            return meta if isinstance(meta.get("offset"), int) else {"offset": 0}
        except (OSError, ValueError, AttributeError):
            return {"offset": 0}

    def _open_client(self) -> None:
        chromadb = heavy("chromadb")
        from chromadb.api.shared_system_client import SharedSystemClient

        from patchlore.memory.embed import register_all

        register_all()
        settings = chromadb.Settings(anonymized_telemetry=False)
        if self.url:
            from urllib.parse import urlparse

            u = urlparse(self.url)
            try:
                self._client = chromadb.HttpClient(host=u.hostname, port=u.port or 8000,
                                                   ssl=u.scheme == "https", settings=settings)
                self._client.heartbeat()
            except Exception as exc:
                raise MemoryStoreError(f"chroma server at {self.url} not reachable "
                                       f"({type(exc).__name__})",
                                       hint="start it with `chroma run`, or drop --memory-url") \
                    from None
        else:
            # a fresh view of the files: another process may have changed them
            SharedSystemClient.clear_system_cache()
            index = self.path / "chroma"
            if self.read_only:  # chromadb writes even to query: it gets a copy of its own
                from patchlore.memory.index_copy import IndexCopy

                if self._index_copy is not None:
                    self._index_copy.close()
                self._index_copy = IndexCopy(self, index, self.lock)
                index = self._index_copy.path
            self._client = chromadb.PersistentClient(path=str(index), settings=settings)
            if self._index_copy is not None:
                self._index_copy.holds(self._client)
        self._counts.clear()
        self._cols = {
            kind: self._client.get_or_create_collection(
                f"{self.namespace}-{name}", embedding_function=self.embedder,
                configuration={"hnsw": {"space": "cosine", "ef_search": 200}})
            for kind, name in KINDS.items()
        }

    def _collections(self) -> dict:
        offset = self._meta()["offset"]
        if self._client is None or (offset != self._index_seen and not self.url):
            self._open_client()
            self._index_seen = offset
        return self._cols

    def _readable_index(self) -> dict | None:
        """The collections to search, or None (recall then ranks by BM25 alone, and says why
        once). Read-only, nothing is created or brought up to date."""
        if not self.read_only:
            try:
                with self.lock:
                    self._sync_index_or_warn()  # entries another process logged, not indexed
            except OSError as exc:  # the lock: recall goes on with the index as it is
                self._warn_once("lock", f"memory: could not lock {self.path} ({exc}); recall "
                                "uses the vector index as it is")
        elif not self.url and not (self.path / "chroma").is_dir():
            if self.records:
                self._warn_once("no-index", f"memory: no vector index in {self.path}; recall "
                                "uses BM25 alone until `patchlore memory reindex`")
            return None
        try:
            cols = self._collections()
        except Exception as exc:  # chromadb raises many types (a read-only or broken index)
            self._warn_once("index", f"memory: the vector index in {self.path} cannot be "
                            f"opened ({type(exc).__name__}: {exc}); recall uses BM25 alone")
            return None
        if self.read_only and not self.url and self._meta()["offset"] < self._read_offset:
            self._warn_once("behind", f"memory: the vector index in {self.path} is behind its "
                            "log; recall finds the newest records by BM25 alone")
        return cols

    def _sync_index_or_warn(self) -> None:
        """The log holds the record either way; a failed index update is retried by the next
        write or recall."""
        try:
            self._sync_index()
        except Exception as exc:  # chromadb raises many types; a full disk, an OSError
            self._warn_once("sync", f"memory: the vector index in {self.path} was not updated "
                            f"({type(exc).__name__}: {exc}); recall uses BM25 for what it "
                            "misses, and the next write retries")

    def _sync_index(self) -> None:
        """Index log entries past index.json's offset. Call with the lock held."""
        meta = self._meta()
        size = self.log_path.stat().st_size if self.log_path.exists() else 0
        if meta["offset"] > size:  # the log was replaced: index it from the start
            meta = {"offset": 0}
        if meta["offset"] == size and self._client is not None:
            return
        cols = self._collections()
        if not size:
            return
        with self.log_path.open("rb") as fh:
            fh.seek(meta["offset"])
            data = fh.read(size - meta["offset"])
        end = data.rfind(b"\n") + 1
        puts: dict[str, dict] = {}
        forgets: dict[str, str] = {}
        for line in data[:end].split(b"\n")[:-1]:
            e, _ = _entry(line)  # a bad line is skipped here too; _refresh warns about it
            if e is None:
                continue
            if e["op"] == "put":
                puts[e["id"]] = e
                forgets.pop(e["id"], None)
            else:
                puts.pop(e["id"], None)
                forgets[e["id"]] = e["kind"]
        for kind in KINDS:
            # only what recall may return is indexed: verified episodes and active insights,
            # so queries need no filter (chromadb's filtered search is far slower)
            batch = [e for e in puts.values() if e["kind"] == kind and _recallable(e)]
            for i in range(0, len(batch), 2000):
                self._upsert(cols[kind], kind, batch[i:i + 2000])
            gone = [i for i, k in forgets.items() if k == kind]
            gone += [e["id"] for e in puts.values() if e["kind"] == kind and not _recallable(e)]
            if gone:
                cols[kind].delete(ids=gone)
        new = {"offset": meta["offset"] + end}
        tmp = self.index_meta.with_suffix(".tmp")
        tmp.write_text(json.dumps(new))
        os.replace(tmp, self.index_meta)
        self._index_seen = new["offset"]

    def _upsert(self, col, kind: str, entries: list[dict]) -> None:
        records = [from_dict(kind, e["data"]) for e in entries]
        docs = [r.text() if isinstance(r, Episode) else r.text_for_search() for r in records]
        metas = []
        for e, r in zip(entries, records):
            if isinstance(r, Episode):
                meta = {"repo": r.repo, "language": r.language, "outcome": r.outcome}
            else:
                meta = {"status": r.status}
            if self.url:  # the server is shared: it carries whole records to other machines
                meta["record"] = json.dumps(e["data"], sort_keys=True)
            metas.append(meta)
        col.upsert(ids=[r.id for r in records], documents=docs, metadatas=metas,
                   embeddings=self.embedder.embed(docs))

    def vector_search(self, kind: str, text: str, k: int,
                      where: dict | None = None) -> list[tuple[str, float]]:
        """(id, cosine similarity) of the k nearest records of `kind`; [] when there is no
        usable index (recall then ranks by BM25 alone)."""
        with self._mutex:
            self._refresh()
            cols = self._readable_index()
            if cols is None:
                return []
            try:
                col = cols[kind]
                count = self._count(kind, col)
                if not count:
                    return []
                res = col.query(query_embeddings=self.embedder.embed([text]),
                                n_results=min(k, count), where=where or None,
                                include=["distances"])
            except Exception as exc:  # chromadb raises many types (a damaged index)
                self._warn_once("query", f"memory: vector search in {self.path} failed "
                                f"({type(exc).__name__}: {exc}); recall uses BM25 alone")
                return []
        return [(i, 1.0 - d) for i, d in zip(res["ids"][0], res["distances"][0])]

    def _count(self, kind: str, col) -> int:
        hit = self._counts.get(kind)
        if hit is not None and hit[0] == self._index_seen and not self.url:
            return hit[1]
        count = col.count()
        self._counts[kind] = (self._index_seen, count)
        return count

    def reindex(self) -> int:
        """Rebuild the index from the log; returns how many records it holds. A local index
        that chromadb cannot open (a damaged chroma folder) is removed and built anew: it
        holds nothing the log does not."""
        with self._mutex, self.lock:
            self._refresh()
            try:
                if self._client is None:
                    self._open_client()
                for kind, name in KINDS.items():
                    self._client.delete_collection(f"{self.namespace}-{name}")
            except Exception as exc:  # chromadb raises many types (not a database, malformed)
                if self.url:
                    raise
                self._client = None
                self.warn(f"memory: the vector index in {self.path / 'chroma'} cannot be opened "
                          f"({type(exc).__name__}: {exc}): built anew from the log")
                chroma = self.path / "chroma"
                if chroma.is_dir() and not chroma.is_symlink():
                    shutil.rmtree(chroma)
                else:
                    chroma.unlink(missing_ok=True)
            self._open_client()
            self.index_meta.write_text(json.dumps({"offset": 0}))
            self._index_seen = 0
            self._sync_index()
            return len(self.records)

    # --- export / import -----------------------------------------------------------------
    def export(self, dest: Path) -> int:
        with self._mutex:
            self._refresh()
            records = [self.records[rid] for rid in sorted(self.records)]
        try:
            with dest.open("w", encoding="utf-8") as fh:
                for r in records:  # masked again: a log from an older release may not be
                    fh.write(json.dumps({"kind": kind_of(r), "data": redact_data(to_dict(r))},
                                        sort_keys=True) + "\n")
        except OSError as exc:
            raise MemoryStoreError(f"{dest}: {exc.strerror}",
                                   hint="export to a writable path") from None
        return len(records)

    def import_(self, src: Path) -> int:
        """Every record is checked before any is written: all of the file, or nothing."""
        try:
            text = src.read_bytes().decode("utf-8")
        except OSError as exc:
            raise MemoryStoreError(f"{src}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise MemoryStoreError(f"{src}: not a text file; nothing imported",
                                   hint=IMPORT_HINT) from None
        records, bad = [], []
        for n, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                e = json.loads(line)
            except ValueError:
                bad.append((n, "not valid JSON"))
                continue
            why = (problem(e.get("kind"), e.get("data")) if isinstance(e, dict)
                   else "not a JSON object")
            if why:
                bad.append((n, why))
            else:
                records.append(from_dict(e["kind"], e["data"]))
        if bad:
            (n, why), more = bad[0], len(bad) - 1
            raise MemoryStoreError(
                f"{src}:{n}: not a patchlore memory record: {why}"
                + (f" (and {more} more bad line(s))" if more else "") + "; nothing imported",
                hint=IMPORT_HINT)
        self.put_many(records)
        return len(records)

    def stats(self) -> dict:
        eps = self.episodes()
        ins = self.insights()
        disk = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        return {"path": str(self.path), "url": self.url, "episodes": len(eps),
                "verified_episodes": sum(e.outcome == "verified" for e in eps),
                "episodes_by_source": dict(sorted(Counter(e.source for e in eps).items())),
                "insights": len(ins), "active_insights": sum(i.status == ACTIVE for i in ins),
                "log_bytes": self.log_path.stat().st_size if self.log_path.exists() else 0,
                "disk_bytes": disk}


IMPORT_HINT = "import reads the JSONL that `patchlore memory export` writes"
