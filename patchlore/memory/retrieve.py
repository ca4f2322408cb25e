"""Hybrid recall: chromadb vector similarity fused with BM25 (bm25s) over the failure signature
and task text, filtered, deduplicated and small. Few and relevant beats many: by default at
most 2 demonstrations (verified episodes only) and 5 insights, within a token budget."""

from __future__ import annotations

from dataclasses import dataclass, field

from patchlore.memory import lexical
from patchlore.memory.schema import PRACTICE, Episode, Insight
from patchlore.memory.signature import signature_of
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


def _lexical_index(store: MemoryStore, what: tuple, ids: list[str]) -> lexical.Index:
    """The BM25 index over `ids` (the records of `what`, a kind and filter): the open store's,
    else the one saved on disk for the log's content, else built now (and saved, unless the
    store is read-only). Keyed by the log's content, so it is exact for the records it has."""
    key = store.content_key()
    held = store.lexical.get(what)
    if held is not None and held[0] == key and (held[1].ids is ids or held[1].ids == ids):
        return held[1]
    index = lexical.load(store.path, what, key) if key is not None and not store.url else None
    if index is not None and index.ids == ids:
        index.ids = ids  # the same list as the store's: later checks are by identity
    else:
        index = lexical.Index.build(ids, [_text(store.get(i)) for i in ids])
        if key is not None and not store.read_only and not store.url:
            lexical.save(store.path, what, key, index)
    store.lexical[what] = (key, index)
    return index


def _text(record: Episode | Insight) -> str:
    return record.text() if isinstance(record, Episode) else record.text_for_search()


def _fuse(*rankings: list[str]) -> list[str]:
    score: dict[str, float] = {}
    for ranking in rankings:
        for rank, rid in enumerate(ranking):
            score[rid] = score.get(rid, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(score, key=lambda r: -score[r])


def _ranked(store: MemoryStore, kind: str, query: str, where: dict | None, k: int,
            repo: str | None = None, language: str | None = None) -> list[str]:
    ids, allowed = store.recallable(kind, repo, language)
    vec = [rid for rid, _ in store.vector_search(kind, query, k, where)]
    lex = _lexical_index(store, (kind, repo, language), ids).search(query, k)
    return [rid for rid in _fuse(vec, lex) if rid in allowed]


def recall_for(store: MemoryStore, task: str, failures: dict[str, str]) -> Recall:
    """What a repair of `task` whose tests fail so ({test: message}) recalls: the loop's
    step 3, and `patchlore localize`'s."""
    return recall(store, f"{task}\n{signature_of(failures).text()}")


def recall(store: MemoryStore, query: str, repo: str | None = None,
           language: str | None = None, k_demos: int = 2, k_insights: int = 5,
           budget_tokens: int = 1500, pool: int = 20) -> Recall:
    with store.frozen():  # also one thread at a time: `eval run`'s workers share a store
        return _recall(store, query, repo, language, k_demos, k_insights, budget_tokens, pool)


def _recall(store: MemoryStore, query: str, repo: str | None, language: str | None,
            k_demos: int, k_insights: int, budget_tokens: int, pool: int) -> Recall:
    out = Recall()
    budget = budget_tokens * CHARS_PER_TOKEN
    # the index holds verified episodes only: failures are never demonstrations
    conds = [{"repo": repo}] if repo else []
    conds += [{"language": language}] if language else []
    where = None if not conds else conds[0] if len(conds) == 1 else {"$and": conds}
    seen_diffs, seen_tasks = set(), set()
    ranked = [store.get(rid) for rid in _ranked(store, "episode", query, where, pool, repo,
                                                    language)]
    # practice episodes (mutants of the repo's own code) never crowd out real repairs
    ranked.sort(key=lambda ep: ep.source == PRACTICE)
    for ep in ranked:
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
    for rid in _ranked(store, "insight", query, None, pool):
        ins = store.get(rid)
        if len(ins.text) > budget:
            continue
        out.insights.append(ins)
        budget -= len(ins.text)
        if len(out.insights) >= k_insights:
            break
    return out
