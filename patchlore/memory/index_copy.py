"""A private copy of a store's chroma index, for a store opened read-only.

chromadb rewrites files of its index (chroma.sqlite3, the HNSW segment's length.bin) whenever a
local client opens and closes it, even one that only queries. A reader's rewrite breaks the
read-only promise, and a reader holding an older view than a writer in another process could
put stale bytes over the writer's newer index. So a read-only store queries a copy in a temporary
directory, removed when the store is dropped or the process ends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from pathlib import Path


class IndexCopy:
    """The copy of `src` one client reads; `close()` (or the owner's end) removes it."""

    def __init__(self, owner: object, src: Path, lock) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="patchlore-index-"))
        self.path = self.dir / "chroma"
        self._client: list = []  # the client opened on the copy, closed before the removal
        self._finalize = weakref.finalize(owner, _remove, self.dir, self._client)
        try:
            # a writer holds the lock while it changes the index; take it where the lock file
            # exists and may be opened (a read-only directory has none to take)
            if os.access(lock.lock_file, os.W_OK):
                with lock:
                    shutil.copytree(src, self.path)
            else:
                shutil.copytree(src, self.path)
        except BaseException:
            self.close()
            raise

    def holds(self, client) -> None:
        self._client.append(client)

    def close(self) -> None:
        self._finalize()


def _remove(folder: Path, clients: list) -> None:
    for client in clients:
        try:
            client.close()  # chromadb writes its files as the client stops: into the copy
        except Exception:  # noqa: BLE001 - a copy being thrown away; nothing to report
            pass
    shutil.rmtree(folder, ignore_errors=True)
