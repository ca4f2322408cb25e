"""The memory store: an append-only JSONL log (the source of truth) and a chromadb index of what
recall may return (verified episodes, active insights).

Every write takes a file lock, appends to the log, then updates the index, so parallel workers
and processes never lose or corrupt an entry. chromadb's local client is not process-safe: a
process that sees the index was changed by another one (the offset in index.json moved)
reopens its client before it reads or writes. `reindex()` rebuilds the index from the log.
With `url`, the index lives in a shared `chroma run` server instead of a local directory.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from patchlore.errors import PatchloreError
from patchlore.memory.redact import redact_data
from patchlore.memory.schema import (ACTIVE, SCHEMA_VERSION, VERIFIED, Episode, Insight,
                                     from_dict, kind_of, to_dict)

KINDS = {"episode": "episodes", "insight": "insights"}


class MemoryStoreError(PatchloreError):
    pass


def _recallable(entry: dict) -> bool:
    data = entry["data"]
    if entry["kind"] == "episode":
        return data.get("outcome") == VERIFIED
    return data.get("status") == ACTIVE


class MemoryStore:
    def __init__(self, path: str | os.PathLike[str], url: str = "", embedder=None,
                 namespace: str = "patchlore") -> None:
        from filelock import FileLock

        from patchlore.memory.embed import make_embedder

        self.path = Path(path).expanduser()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MemoryStoreError(f"memory directory {self.path}: {exc.strerror}",
                               hint="pass --memory PATH to a writable directory") from None
        self.log_path = self.path / "log.jsonl"
        self.index_meta = self.path / "index.json"
        self.lock = FileLock(str(self.path / ".lock"), timeout=120)
        self.url = url
        self.namespace = namespace
        self.embedder = embedder or make_embedder()
        self.records: dict[str, Episode | Insight] = {}
        self._read_offset = 0  # how much of the log self.records reflects
        self._index_seen = -1  # index.json's offset when our chroma client was opened
        self._client = None
        self._cols: dict = {}
        if url:
            self._open_client()
        self._refresh()

    # --- the log -------------------------------------------------------------------------
    def _refresh(self) -> None:
        """Read log lines written since we last looked (by us or by another process). With a
        shared server, the server's records are the team's memory: read them too."""
        if self.url and self._client is not None:
            self._pull_server()
        if not self.log_path.exists():
            return
        with self.log_path.open("rb") as fh:
            fh.seek(self._read_offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # a line still being written is read next time
        for n, line in enumerate(data[:end].splitlines(), 1):
            if line.strip():
                self._apply(self._parse(line, n))
        self._read_offset += end

    def _pull_server(self) -> None:
        for kind, col in self._cols.items():
            total = col.count()
            for start in range(0, total, 1000):
                got = col.get(include=["metadatas"], offset=start, limit=1000)
                for rid, meta in zip(got["ids"], got["metadatas"]):
                    if meta and "record" in meta:
                        self.records[rid] = from_dict(kind, json.loads(meta["record"]))

    def _parse(self, line: bytes, n: int) -> dict:
        try:
            entry = json.loads(line)
            if entry.get("v", 1) > SCHEMA_VERSION:
                raise MemoryStoreError(f"{self.log_path} was written by a newer patchlore "
                                   f"(schema {entry['v']})", hint="upgrade patchlore")
            return entry
        except (json.JSONDecodeError, AttributeError):
            raise MemoryStoreError(f"{self.log_path}: line {n} after offset {self._read_offset} "
                               "is not valid JSON",
                               hint="restore the log from a backup or an export") from None

    def _apply(self, entry: dict) -> None:
        if entry["op"] == "put":
            self.records[entry["id"]] = from_dict(entry["kind"], entry["data"])
        elif entry["op"] == "forget":
            self.records.pop(entry["id"], None)

    def _append(self, entries: list[dict]) -> None:
        """Append under the lock, then bring the index up to date."""
        with self.lock:
            self._refresh()
            with self.log_path.open("ab") as fh:
                for e in entries:
                    fh.write((json.dumps(e, sort_keys=True) + "\n").encode())
                fh.flush()
                os.fsync(fh.fileno())
            self._refresh()
            self._sync_index()

    def put(self, record: Episode | Insight) -> str:
        self.put_many([record])
        return record.id

    def put_many(self, records: list[Episode | Insight]) -> None:
        self._append([{"v": SCHEMA_VERSION, "op": "put", "kind": kind_of(r), "id": r.id,
                       "ts": time.time(), "data": redact_data(to_dict(r))} for r in records])

    def forget(self, record_id: str) -> bool:
        self._refresh()
        if record_id not in self.records:
            return False
        self._append([{"v": SCHEMA_VERSION, "op": "forget",
                       "kind": kind_of(self.records[record_id]), "id": record_id,
                       "ts": time.time()}])
        return True

    # --- reading -------------------------------------------------------------------------
    def get(self, record_id: str) -> Episode | Insight | None:
        self._refresh()
        return self.records.get(record_id)

    def episodes(self) -> list[Episode]:
        self._refresh()
        return [r for r in self.records.values() if isinstance(r, Episode)]

    def insights(self, active_only: bool = False) -> list[Insight]:
        self._refresh()
        return [r for r in self.records.values() if isinstance(r, Insight)
                and (r.status == ACTIVE or not active_only)]

    # --- the vector index ----------------------------------------------------------------
    def _meta(self) -> dict:
        try:
            return json.loads(self.index_meta.read_text())
        except (OSError, ValueError):
            return {"offset": 0}

    def _open_client(self) -> None:
        import chromadb
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
            self._client = chromadb.PersistentClient(path=str(self.path / "chroma"),
                                                     settings=settings)
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

    def _sync_index(self) -> None:
        """Index log entries past index.json's offset. Call with the lock held."""
        meta = self._meta()
        size = self.log_path.stat().st_size if self.log_path.exists() else 0
        if meta.get("offset", 0) > size:  # the log was replaced: index it from the start
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
        for n, line in enumerate(data[:end].splitlines(), 1):
            if not line.strip():
                continue
            e = self._parse(line, n)
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
        """(id, cosine similarity) of the k nearest records of `kind`."""
        self._refresh()
        with self.lock:
            self._sync_index()  # entries another process logged but did not index yet
        col = self._collections()[kind]
        count = col.count()
        if not count:
            return []
        res = col.query(query_embeddings=self.embedder.embed([text]), n_results=min(k, count),
                        where=where or None, include=["distances"])
        return [(i, 1.0 - d) for i, d in zip(res["ids"][0], res["distances"][0])]

    def reindex(self) -> int:
        """Rebuild the index from the log; returns how many records it holds."""
        with self.lock:
            self._refresh()
            if self._client is None:
                self._open_client()
            for kind, name in KINDS.items():
                self._client.delete_collection(f"{self.namespace}-{name}")
            self._open_client()
            self.index_meta.write_text(json.dumps({"offset": 0}))
            self._index_seen = 0
            self._sync_index()
        return len(self.records)

    # --- export / import -----------------------------------------------------------------
    def export(self, dest: Path) -> int:
        self._refresh()
        with dest.open("w", encoding="utf-8") as fh:
            for rid in sorted(self.records):
                r = self.records[rid]
                fh.write(json.dumps({"kind": kind_of(r), "data": to_dict(r)}, sort_keys=True)
                         + "\n")
        return len(self.records)

    def import_(self, src: Path) -> int:
        records = []
        for n, line in enumerate(src.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                e = json.loads(line)
                records.append(from_dict(e["kind"], e["data"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise MemoryStoreError(f"{src}:{n}: not a patchlore memory record ({exc})") from None
        self.put_many(records)
        return len(records)

    def stats(self) -> dict:
        self._refresh()
        eps = self.episodes()
        ins = self.insights()
        disk = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        return {"path": str(self.path), "url": self.url, "episodes": len(eps),
                "verified_episodes": sum(e.outcome == "verified" for e in eps),
                "insights": len(ins), "active_insights": sum(i.status == ACTIVE for i in ins),
                "log_bytes": self.log_path.stat().st_size if self.log_path.exists() else 0,
                "disk_bytes": disk}
