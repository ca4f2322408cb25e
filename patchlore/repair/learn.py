"""The learn step: write the episode, settle the credit of insights that were shown, and let the
model distil insights from a verified repair. Only the sandbox's verdict marks an episode as
verified; failures are kept as failures, never as demonstrations. Learning comes after the
repair: whatever goes wrong in it is a warning, never the end of the run that found a patch."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import time
import traceback
from collections.abc import Iterable

from patchlore.propose.prompts import DISTILL, distill_message
from patchlore.memory.redact import redact
from patchlore.memory.schema import ACTIVE, FAILED, RETIRED, VERIFIED, Episode, Insight
from patchlore.memory.signature import signature_of
from patchlore.memory.store import MemoryStore

MAX_ACTIVE = 20  # the active insight list is capped (ExpeL keeps 20)


def episode_from(result, repo: str, task: str, failures: dict[str, str], model: str,
                 trajectory: str, shown: list[str]) -> Episode:
    sig = signature_of(failures)
    commands: list[str] = []
    if result.verified:
        diff, outcome, reason = result.patch, VERIFIED, ""
        chosen = [c for c in result.candidates if c.verified and c.patch == result.patch]
        commands = chosen[0].commands if chosen else []
    else:
        tried = [c for c in result.candidates if c.diff] or result.candidates
        diff = tried[0].diff if tried else ""
        reason = redact(tried[0].reason if tried else result.message)[:2000]  # mask, then cut
        outcome = FAILED
    files = sorted(set(re.findall(r"^\+\+\+ b/(\S+)", diff, re.MULTILINE)))
    summary = task or "failing tests: " + ", ".join(sig.failing_tests[:5])
    return Episode(repo=repo, task=summary, signature=sig, diff=diff, outcome=outcome,
                   reason=reason, files=files, tests_run=len(failures), model=model,
                   trajectory=trajectory, insights_shown=shown, commands=commands)


def settle_credit(store: MemoryStore, shown: list[str], verified: bool) -> list[Insight]:
    """Insights shown in this attempt's prompt gain (verified) or lose (failed) credit. Returns
    changed copies (the store's records may be in other threads' hands), to be put within the
    same store.transaction() that read them."""
    changed = []
    for iid in dict.fromkeys(shown):
        ins = store.get(iid)
        if not isinstance(ins, Insight) or ins.status != ACTIVE:
            continue
        ins = copy.deepcopy(ins)
        if verified:
            ins.helpful += 1
        else:
            ins.harmful += 1
        if ins.credit <= 0:
            ins.status = RETIRED
        ins.updated = time.time()
        changed.append(ins)
    return changed


def parse_ops(text: str) -> list[dict]:
    """The JSON list in a model's answer (fenced or bare); [] for anything else."""
    m = re.search(r"\[.*\]", text, re.DOTALL)
    if not m:
        return []
    try:
        ops = json.loads(m.group(0))
    except json.JSONDecodeError:
        return []
    return [o for o in ops if isinstance(o, dict) and o.get("op") in
            ("ADD", "EDIT", "AGREE", "MERGE", "REMOVE")] if isinstance(ops, list) else []


def apply_ops(store: MemoryStore, ops: list[dict], episode_id: str,
              pending: Iterable[Insight] = ()) -> list[Insight]:
    """ExpeL's operations, plus MERGE for two lessons that say the same. Ones naming a missing
    insight, and duplicates, are dropped. Works on copies, and on `pending` (this episode's
    changes not yet stored, changed further in place) so that both counts add up."""
    mine = {i.id: i for i in pending}
    active = {i.id: mine.get(i.id) or copy.deepcopy(i) for i in store.insights(active_only=True)
              if mine.get(i.id, i).status == ACTIVE}
    norm = lambda s: " ".join(re.findall(r"\w+", s.lower()))  # noqa: E731
    known = {norm(i.text) for i in active.values()}
    touched: dict[str, Insight] = {}
    added = 0
    for op in ops:
        kind = op["op"]
        target = None if kind in ("ADD", "MERGE") else active.get(str(op.get("id", "")))
        if kind == "MERGE":
            parts = [active[i] for i in dict.fromkeys(map(str, op.get("ids") or []))
                     if i in active and active[i].status == ACTIVE]
            text = str(op.get("text", "")).strip()[:400]
            if len(parts) < 2 or not text:
                continue
            merged = Insight(text=text, when="; ".join(p.when for p in parts if p.when)[:200],
                             supports=sorted({s for p in parts for s in p.supports}),
                             helpful=sum(p.helpful for p in parts),
                             harmful=sum(p.harmful for p in parts))
            for p in parts:  # the merged lesson carries their record; they step down
                p.status, p.updated = RETIRED, time.time()
                touched[p.id] = p
            touched[merged.id] = merged
            known.add(norm(text))
            continue
        if kind == "ADD":
            text = str(op.get("text", "")).strip()
            if not text or norm(text) in known or added >= 2 or len(text) > 400:
                continue
            ins = Insight(text=text, when=str(op.get("when", ""))[:200], supports=[episode_id])
            known.add(norm(text))
            touched[ins.id] = ins
            added += 1
        elif target is None:
            continue
        elif kind == "EDIT" and str(op.get("text", "")).strip():
            target.text = str(op["text"]).strip()[:400]
            target.helpful += 1
        elif kind == "AGREE":
            target.helpful += 1
            if episode_id not in target.supports:
                target.supports.append(episode_id)
        elif kind == "REMOVE":
            target.harmful += 1
            if target.credit <= 0:
                target.status = RETIRED
        if target is not None:
            target.updated = time.time()
            touched[target.id] = target
    return list(touched.values())


def cap_active(store: MemoryStore, pending: list[Insight]) -> list[Insight]:
    """Retired copies of the lowest-credit insights beyond the cap (one of a pending insight
    carries its changes, and supersedes it)."""
    by_id = {i.id: i for i in store.insights(active_only=True)}
    by_id.update({i.id: i for i in pending})
    active = sorted((i for i in by_id.values() if i.status == ACTIVE),
                    key=lambda i: (-i.credit, -i.updated))
    return [dataclasses.replace(ins, status=RETIRED) for ins in active[MAX_ACTIVE:]]


def learn(store: MemoryStore, model, result, repo: str, task: str, failures: dict[str, str],
          run_dir: str, shown: list[str], record=None) -> Episode | None:
    """The stored episode, or None when memory could not take it (the store said why in a
    warning; the result and its patch are untouched). `run_dir`, the run's record the episode
    points to; `record`, that run's Trajectory, hears what learning did."""
    try:
        return _learn(store, model, result, repo, task, failures, run_dir, shown, record)
    except Exception as exc:  # a full disk, a damaged index, a bug: not worth the user's patch
        store.warn(f"memory: this repair was not recorded ({type(exc).__name__}: {exc}); "
                   "the result is unaffected")
        if record is not None:
            record.log("learn_failed", error=f"{type(exc).__name__}: {exc}",
                     traceback=traceback.format_exc())
        return None


def _learn(store: MemoryStore, model, result, repo: str, task: str, failures: dict[str, str],
           run_dir: str, shown: list[str], record) -> Episode:
    episode = episode_from(result, repo, task, failures, getattr(model, "name", ""), run_dir,
                           shown)
    # the model answers before the store is locked: other learners need not wait for it
    ops = _distill(store, model, result, task, failures, record) if result.verified else []
    # read, count and write as one step, or two processes crediting one insight at once both
    # read the same count and both write it plus one
    with store.transaction():
        changed = settle_credit(store, shown, result.verified)
        if ops:
            try:
                changed += apply_ops(store, ops, episode.id, changed)
            except Exception as exc:  # an op of a shape no check foresaw: the lessons are lost
                _distill_failed(record, exc)
        changed += cap_active(store, changed)
        store.put_many([episode, *{i.id: i for i in changed}.values()])  # the last copy wins
    return episode


def _distill(store: MemoryStore, model, result, task: str, failures: dict[str, str],
             record) -> list[dict]:
    """The operations the model proposes from this verified repair; [] if it gave none."""
    failed = [(c.diff or c.answer[-600:], c.reason) for c in result.candidates if not c.verified]
    try:
        reply = model.complete([
            {"role": "system", "content": DISTILL},
            {"role": "user", "content": distill_message(task, "\n".join(failures.values()),
                                                        failed, result.patch,
                                                        store.insights(active_only=True))},
        ], n=1)
        result.usage.add(reply)
        ops = parse_ops(reply.texts[0])
    except Exception as exc:  # learning must never cost the user the fix itself
        _distill_failed(record, exc)
        return []
    if record is not None:
        record.log("distill", answer=reply.texts[0], ops=ops)
    return ops


def _distill_failed(record, exc: Exception) -> None:
    if record is not None:
        record.log("distill_failed", error=f"{type(exc).__name__}: {exc}")
