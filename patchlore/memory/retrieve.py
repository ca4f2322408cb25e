"""Hybrid recall: chromadb vector similarity fused with BM25 (bm25s) over the failure signature
and task text, filtered, deduplicated and small. Few and relevant beats many: by default at
most 2 demonstrations (verified episodes only) and 5 insights, within a token budget."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from patchlore.memory.schema import VERIFIED, Episode, Insight
from patchlore.memory.store import MemoryStore

RRF_K = 60
CHARS_PER_TOKEN = 4


@dataclass
class Recall:
    insights: list[Insight] = field(default_factory=list)
    demos: list[Episode] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.insights and not self.demos


class _Lexical:
    """A BM25 index over one kind of record, rebuilt only when the store has changed."""

    def __init__(self) -> None:
        self.key = None
        self.ids: list[str] = []
        self.retriever = None

    def search(self, key, records: dict[str, str], query: str, k: int) -> list[str]:
        import bm25s

        if key != self.key:
            self.key, self.ids = key, list(records)
            self.retriever = None
            if self.ids:
                self.retriever = bm25s.BM25()
                self.retriever.index(bm25s.tokenize(list(records.values()), stopwords="en",
                                                    show_progress=False), show_progress=False)
        if self.retriever is None or not query.strip():
            return []
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        docs, scores = self.retriever.retrieve(tokens, k=min(k, len(self.ids)),
                                               show_progress=False)
        return [self.ids[i] for i, s in zip(docs[0], scores[0]) if s > 0]


_lexical: dict[tuple[int, str], _Lexical] = {}
_pools: dict[tuple, tuple[dict, dict]] = {}
_lock = threading.Lock()  # the caches above are shared by `eval run`'s worker threads


def _pool(store: MemoryStore, key: tuple, build) -> tuple[tuple, dict, dict]:
    """(version, records, texts) for one filter, rebuilt only when the store has changed."""
    full = (id(store), *store.version(), *key)
    if full not in _pools:
        records = build()
        if len(_pools) > 16:
            _pools.clear()
        _pools[full] = (records, {i: (r.text() if isinstance(r, Episode)
                                      else r.text_for_search()) for i, r in records.items()})
    return (full, *_pools[full])


def _fuse(*rankings: list[str]) -> list[str]:
    score: dict[str, float] = {}
    for ranking in rankings:
        for rank, rid in enumerate(ranking):
            score[rid] = score.get(rid, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(score, key=lambda r: -score[r])


def _ranked(store: MemoryStore, kind: str, query: str, candidates: dict[str, str],
            where: dict | None, k: int, key: tuple, version: tuple) -> list[str]:
    vec = [rid for rid, _ in store.vector_search(kind, query, k, where)]
    lex_index = _lexical.setdefault((id(store), kind, *key), _Lexical())
    lex = lex_index.search(version, candidates, query, k)
    return [rid for rid in _fuse(vec, lex) if rid in candidates]


def recall(store: MemoryStore, query: str, repo: str | None = None,
           language: str | None = None, k_demos: int = 2, k_insights: int = 5,
           budget_tokens: int = 1500, pool: int = 20) -> Recall:
    with _lock:
        return _recall(store, query, repo, language, k_demos, k_insights, budget_tokens, pool)


def _recall(store: MemoryStore, query: str, repo: str | None, language: str | None,
            k_demos: int, k_insights: int, budget_tokens: int, pool: int) -> Recall:
    out = Recall()
    budget = budget_tokens * CHARS_PER_TOKEN
    # the index holds verified episodes only: failures are never demonstrations
    conds = [{"repo": repo}] if repo else []
    conds += [{"language": language}] if language else []
    where = None if not conds else conds[0] if len(conds) == 1 else {"$and": conds}
    version, episodes, texts = _pool(store, ("episode", repo, language), lambda: {
        e.id: e for e in store.episodes() if e.outcome == VERIFIED
        and (not repo or e.repo == repo) and (not language or e.language == language)})
    seen_diffs, seen_tasks = set(), set()
    for rid in _ranked(store, "episode", query, texts, where, pool, (repo, language), version):
        ep = episodes[rid]
        diff_key = "".join(ep.diff.split())
        if diff_key in seen_diffs or ep.task in seen_tasks:
            continue  # the same lesson twice teaches nothing new
        cost = len(ep.task) + len(ep.diff)
        if cost > budget:
            continue
        seen_diffs.add(diff_key)
        seen_tasks.add(ep.task)
        out.demos.append(ep)
        budget -= cost
        if len(out.demos) >= k_demos:
            break
    version, insights, texts = _pool(store, ("insight",), lambda: {
        i.id: i for i in store.insights(active_only=True) if i.credit > 0})
    for rid in _ranked(store, "insight", query, texts, None, pool, (), version):
        ins = insights[rid]
        if len(ins.text) > budget:
            continue
        out.insights.append(ins)
        budget -= len(ins.text)
        if len(out.insights) >= k_insights:
            break
    return out
