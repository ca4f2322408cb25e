"""The store's records: id -> Episode | Insight, in log order.

Each record is known by where its current line is in the log and by its facet (kind, whether
recall may return it, repo, language). A record a snapshot named is built from its log line the
first time it is asked for, so opening a store of 100k records builds none, and recall, which
filters on facets, builds only the few it returns. Records replayed from the log's tail are
built as they are read.
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Iterator, MutableMapping
from typing import BinaryIO

from patchlore.errors import PatchloreError
from patchlore.memory.schema import ACTIVE, VERIFIED, Episode, Insight, from_dict

NOT_IN_LOG = -1  # a record from a shared server: no line of ours holds it


class LogChanged(PatchloreError):
    pass


def facet(record: Episode | Insight) -> tuple:
    """(kind, may recall return it, repo, language): what recall filters on."""
    if isinstance(record, Episode):
        return "episode", record.outcome == VERIFIED, record.repo, record.language
    return "insight", record.status == ACTIVE and record.credit > 0, "", ""


class Records(MutableMapping):
    def __init__(self, log: BinaryIO | None = None, snap=None) -> None:
        self._log = log  # the log the snapshot was checked against
        if snap is None:
            self._slot: dict[str, int] = {}
            self._spans, self._facet_of, self._facets = array("q"), array("i"), []
        else:
            self._slot = dict(zip(snap.ids, range(len(snap.ids))))
            self._spans, self._facet_of = snap.spans, snap.facet_of
            self._facets = list(snap.facets)
        self._code = {f: i for i, f in enumerate(self._facets)}
        self._built: dict[str, Episode | Insight] = {}
        self._changes = 0  # puts and deletes so far: what the cache of ids() is valid for
        self._found: dict[tuple, tuple[int, list[str], frozenset[str]]] = {}

    def put(self, rid: str, record: Episode | Insight, offset: int, length: int) -> None:
        """`record`, whose line is `length` bytes at `offset` in the log, replaces any other
        of the same id (keeping its place, as a dict does)."""
        f = facet(record)
        code = self._code.get(f)
        if code is None:
            code = self._code[f] = len(self._facets)
            self._facets.append(f)
        slot = self._slot.get(rid)
        if slot is None:
            self._slot[rid] = len(self._facet_of)
            self._spans.extend((offset, length))
            self._facet_of.append(code)
        else:
            self._spans[2 * slot], self._spans[2 * slot + 1] = offset, length
            self._facet_of[slot] = code
        self._built[rid] = record
        self._changes += 1

    def __setitem__(self, rid: str, record: Episode | Insight) -> None:
        self.put(rid, record, NOT_IN_LOG, 0)

    def __getitem__(self, rid: str) -> Episode | Insight:
        record = self._built.get(rid)
        if record is None:
            record = self._built[rid] = self._read(rid, self._slot[rid])
        return record

    def _read(self, rid: str, slot: int) -> Episode | Insight:
        offset, length = self._spans[2 * slot], self._spans[2 * slot + 1]
        try:
            entry = json.loads(os.pread(self._log.fileno(), length, offset))
            if entry["id"] != rid or entry["op"] != "put":
                raise ValueError(entry["id"])
            return from_dict(entry["kind"], entry["data"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise LogChanged(f"memory log {getattr(self._log, 'name', '?')} changed under "
                             f"this process (record {rid} is not where it was)",
                             hint="run the command again") from None

    def __delitem__(self, rid: str) -> None:
        del self._slot[rid]
        self._built.pop(rid, None)
        self._changes += 1

    def __iter__(self) -> Iterator[str]:
        return iter(self._slot)

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, rid: object) -> bool:
        return rid in self._slot

    def ids(self, kind: str, recallable: bool = False, repo: str | None = None,
            language: str | None = None) -> tuple[list[str], frozenset[str]]:
        """Ids of `kind` (only those recall may return, of `repo` and `language`, if asked),
        in log order and as a set, decided by facets alone: no record is built. Kept until
        the records change: every recall asks, and at 50k a pass over them all cost more than
        the search itself."""
        what = (kind, recallable, repo, language)
        hit = self._found.get(what)
        if hit is not None and hit[0] == self._changes:
            return hit[1], hit[2]
        wanted = {code for code, (k, ok, r, lang) in enumerate(self._facets)
                  if k == kind and (ok or not recallable) and (not repo or r == repo)
                  and (not language or lang == language)}
        of = self._facet_of
        found = [rid for rid, slot in self._slot.items() if of[slot] in wanted]
        self._found[what] = (self._changes, found, frozenset(found))
        return found, self._found[what][2]

    def columns(self) -> tuple[list[str], array, array, list[tuple]]:
        """(ids, spans, facet_of, facets) of the records now, for a snapshot."""
        ids = list(self._slot)
        spans, facet_of = array("q"), array("i")
        sp, of = self._spans, self._facet_of
        for slot in self._slot.values():
            spans.extend((sp[2 * slot], sp[2 * slot + 1]))
            facet_of.append(of[slot])
        return ids, spans, facet_of, list(self._facets)

    def all_in_log(self) -> bool:
        return all(self._spans[2 * s] != NOT_IN_LOG for s in self._slot.values())
