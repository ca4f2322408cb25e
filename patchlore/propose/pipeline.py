"""The pipeline proposer: the localized code in one prompt, N answers as SEARCH/REPLACE edits
from one request."""

from __future__ import annotations

from patchlore.propose.context import Candidate, Repair, failure_text
from patchlore.propose.edits import (RepoFiles, edits_to_diff, lines_changed, normalize_diff,
                                     parse_answer)
from patchlore.propose.prompts import SYSTEM, feedback_message, task_message
from patchlore.sandbox.verify import Status
from patchlore.trajectory import cap_text


class PipelineProposer:
    """The localized code in one prompt; N answers as SEARCH/REPLACE edits from one request
    (one shared prompt prefix); later rounds add why the last round's candidates failed."""

    name = "pipeline"
    localizes = True

    def __init__(self, r: Repair) -> None:
        self.r = r
        self.messages = [{"role": "system", "content": SYSTEM},
                         {"role": "user", "content": task_message(
                             r.opts.task, failure_text(r.baseline), r.snippets,
                             memory=r.memory_text)}]
        self.last_answer = ""

    def propose(self, rnd: int, last: list[Candidate]) -> list[Candidate]:
        if last:
            self.messages += [{"role": "assistant", "content": self.last_answer},
                              {"role": "user", "content": feedback_message(
                                  [(c.diff or c.answer[-800:], c.reason) for c in last])}]
        self.r.progress(f"round {rnd}: asking {self.r.model.name} for {self.r.opts.samples} "
                        "candidates")
        reply = self.r.ask(self.messages, rnd)
        self.last_answer = cap_text(reply.texts[0]) if reply.texts else ""
        return parse_candidates(reply.texts, rnd, self.r.files)

    def spare_box(self) -> None:
        return None  # it has no sandbox of its own

    def close(self) -> None:
        pass  # it holds nothing beyond its messages


def parse_candidates(texts: list[str], rnd: int, files: RepoFiles) -> list[Candidate]:
    """Distinct candidates from the answers; identical answers (the same normalized diff, or
    the same failure) become votes."""
    by_key: dict[tuple[str, str], Candidate] = {}
    for text in texts:
        parsed = parse_answer(text)
        problems: list[str] = []
        diff = "\n".join(parsed.diffs)
        if parsed.edits:
            diff, problems = edits_to_diff(parsed.edits, files.get)
        cand = Candidate(round=rnd, diff=diff, answer=cap_text(text))
        if parsed.empty:
            cand.reason = "no edits found: answer with SEARCH/REPLACE blocks"
        elif problems:
            cand.reason = "some edits did not match:\n" + "\n".join(problems)
        elif not diff.strip():
            cand.reason = "the edits change nothing"
        if cand.reason:
            cand.status = Status.INVALID
        else:
            cand.lines_changed = lines_changed(diff)
        key = (normalize_diff(diff) if diff.strip() else text.strip(), cand.reason)
        if key in by_key:
            by_key[key].votes += 1
        else:
            by_key[key] = cand
    return list(by_key.values())
