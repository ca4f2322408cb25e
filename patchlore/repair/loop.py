"""The repair loop, top to bottom:

    reproduce -> localize -> recall -> propose N -> verify in sandbox -> select -> learn
                                       ^                   |
                                       +---- feedback -----+   (bounded rounds)

`repair()` runs these steps in order; each is a function below, named after it. Only the
sandbox decides what is verified (sandbox/verify.py), and the patch that ships is the sandbox's
own diff of the verified candidate. Given only an issue text and green tests, reproduce first
asks the model for a test that fails on the bug; candidates are verified with it, and it is
left out of the final patch.

Proposers plug in at "propose": each gets the `Repair` (what the steps before it found) and
returns candidates for a round; the pipeline proposer (localized code, SEARCH/REPLACE edits,
N answers from one request) is the default.
"""

from __future__ import annotations

import queue
import re
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace

from patchlore import warmup
from patchlore.errors import PatchloreError
from patchlore.llm.model import Model, Reply
from patchlore.localize.localize import localize_repo, traces_of
from patchlore.memory.retrieve import recall_for
from patchlore.memory.store import MemoryStore
from patchlore.pool import pmap
from patchlore.propose.context import (Candidate, Proposer, ProposerFactory, Repair,
                                       RepairOptions, RepairResult)
from patchlore.propose.edits import RepoFiles, normalize_diff
from patchlore.propose.outcome import Outcome
from patchlore.propose.pipeline import PipelineProposer, parse_candidates
from patchlore.propose.prompts import SYSTEM, memory_block, repro_message
from patchlore.repair.learn import learn
from patchlore.sandbox.base import Sandbox
from patchlore.sandbox.runners import Runner, for_command
from patchlore.sandbox.runners.pytest import PytestRunner
from patchlore.sandbox.snapshot import Snapshot
from patchlore.sandbox.testrun import TestRun, run_tests
from patchlore.sandbox.verify import Status, failing_tests, failure_map, time_left, verify
from patchlore.trajectory import Trajectory

EXIT_NO_TESTS = 5  # pytest: nothing collected


def repair(snapshot: Snapshot, box: Sandbox, model: Model, opts: RepairOptions,
           traj: Trajectory, more_boxes: Callable[[], Sandbox] | None = None,
           progress: Callable[[str], None] = lambda s: None,
           proposers: list[ProposerFactory] | None = None,
           memory: MemoryStore | None = None) -> RepairResult:
    start = time.monotonic()
    r = Repair(snapshot, box, model, opts, traj, progress, more_boxes, memory)
    _warm_up(r)
    if _reproduce(r):
        makers = proposers or [PipelineProposer]
        _recall(r)  # first: localization looks where the recalled repairs changed code
        if any(make.localizes for make in makers):
            _localize(r)
        _rounds(r, [make(r) for make in makers])
        _select(r)
        _learn(r)
    r.result.seconds = time.monotonic() - start
    traj.log("result", **{k: v for k, v in r.result.to_dict().items() if k != "candidates"})
    return r.result


def _rounds(r: Repair, proposers: list[Proposer]) -> None:
    """propose -> verify, with feedback, until a candidate is verified or a limit is hit."""
    pool = _BoxPool(r.box, _more_boxes(r, proposers), r.opts.workers)
    last: list[Candidate] = []
    try:
        for rnd in range(1, r.opts.rounds + 1):
            stop = r.stop_reason()
            if stop:
                r.result.status, r.result.message = Outcome.BUDGET, stop
                return
            r.result.rounds = rnd
            last = _propose(r, proposers, rnd, last)
            if not last and r.result.status == Outcome.BUDGET:  # the model was cut at the deadline
                return
            _verify(r, pool, last, rnd)
            r.result.candidates += last
            if any(c.verified for c in last):
                return
    finally:
        pool.close()
        for p in proposers:
            p.close()
    if r.opts.deadline is not None and time.monotonic() >= r.opts.deadline:
        r.result.status, r.result.message = Outcome.BUDGET, "stopped at --timeout"


# 1. reproduce: what fails now, and what passes and must keep passing

def _reproduce(r: Repair) -> bool:
    """False when there is nothing to repair (the result says why)."""
    result, opts = r.result, r.opts
    r.progress("reproducing: running the tests")
    with _timed(result, "reproduce"):
        r.baseline = r.run_tests("baseline")
    unusable = r.baseline.unusable
    # an issue in a repo without tests: the reproduction test will be the first
    no_tests_yet = opts.task and r.baseline.command.exit_code == EXIT_NO_TESTS
    if unusable and not no_tests_yet:
        raise PatchloreError(f"{unusable}: `{opts.test_cmd}`",
                             hint="pass the repo's test command with --test-cmd")
    if r.baseline.command.timed_out and r.stop_reason():
        result.status = Outcome.BUDGET
        result.message = f"{r.stop_reason()} (the tests did not finish)"
        return False
    r.failing = [] if unusable else failing_tests(r.baseline)
    r.files = RepoFiles(r.snapshot.root, r.snapshot.files)
    if opts.task and (opts.repro_always or not r.failing):
        # with tests that fail already (repro_always), the bug's tests are the reproduction's:
        # the others stay out of what must pass, and every test that passed must still pass
        r.progress("reproducing: asking for a test that shows the bug")
        with _timed(result, "reproduce"):
            r.repro, run, path, shows = _reproduction(r)
        if r.repro:
            r.baseline, r.failing = run, shows
            r.files[path] = _added_file(r.repro, path)
        elif not r.failing:
            if result.status != Outcome.BUDGET:  # the deadline cut the request: ask() said so
                result.message = "could not write a reproduction test that fails on the bug"
            return False
    result.failing_before = r.failing
    if not r.failing:
        result.status, result.message = Outcome.NOTHING_TO_FIX, "the tests pass: nothing to fix"
        return False
    return True


def _warm_up(r: Repair) -> None:
    """Begin importing what the steps after the baseline need, in the order they need it
    (recall's BM25 and chromadb, localization's BM25, the model's client), while the baseline
    tests run: this thread only waits on the sandbox then, so the imports (seconds on a cold
    start) overlap the tests instead of queueing after them."""
    warm_model = getattr(r.model, "warm", None)  # a model that needs no import has none
    warmup.start([("bm25s", None), *([("chromadb", None)] if r.memory is not None else []),
                  *([("litellm", warm_model)] if warm_model is not None else [])])


def _reproduction(r: Repair) -> tuple[str, TestRun, str, list[str]]:
    """A reproduction test that fails now, where and in the form the test command's runner
    runs it (a command of no known runner: as pytest's); returns its diff, the test run with it
    added, its path and its failing tests (no diff: none was written)."""
    before = r.baseline
    called = for_command(r.opts.test_cmd)
    runner: Runner = called or PytestRunner()
    path = runner.repro_path(r.snapshot.files)
    # the command on the reproduction's file alone (as grading runs it), where the command
    # calls that runner and picks no tests of its own; else ""
    alone = called.alone(r.opts.test_cmd, [path]) if called else ""
    snippets = localize_repo(r.snapshot.root, r.snapshot.files, task=r.opts.task,
                             repo_path=r.box.repo_path, budget_tokens=r.opts.context_tokens,
                             index=r.repo_index())
    reply = r.ask([{"role": "system", "content": SYSTEM},
                   {"role": "user", "content": repro_message(r.opts.task, snippets, path,
                                                             runner.repro_style)}], 0)
    passing = {k for k, t in before.tests.items() if t.passed}
    support = "".join(_empty_file(f) for f in runner.repro_support()
                      if f not in r.snapshot.files)
    for cand in parse_candidates(reply.texts, 0, r.files):
        if cand.status == Status.INVALID or not _added_file(cand.diff, path):
            continue
        diff = cand.diff + support
        if not r.box.apply_patch(diff, reset=True).applied:
            continue
        if alone and _passes_alone(r, alone, runner, path):  # shows no bug: no whole-suite run
            r.traj.log("reproduction", diff=diff, fails=[], others_ok=None)
            continue
        run = r.run_tests("reproduction")
        new_failures = [t for t in failing_tests(run) if runner.is_repro(t, path)]
        # a test that passed and fails beside it is broken by it; one the run does not report
        # at all (a runner's log is not always whole) is not
        broke = sorted(k for k in passing if k in run.tests and not run.tests[k].passed)
        r.traj.log("reproduction", diff=diff, fails=new_failures, others_ok=not broke,
                   broke=broke[:20])
        if new_failures and not broke:
            # the baseline gains the reproduction's tests and nothing else: other names that
            # run has and the first has not are its log's noise (a line cut by output of another
            # process: `Tests)`), which a fixed run would lack and so seem to break
            mine = {k: t for k, t in run.tests.items() if runner.is_repro(k, path)}
            return diff, replace(run, tests={**before.tests, **mine}), path, new_failures
    return "", before, path, []


def _passes_alone(r: Repair, alone: str, runner: Runner, path: str) -> bool:
    """Whether the reproduction test, run alone (the command `alone`), passes: then it shows no
    bug. A run in which the test does not show up at all says nothing: the whole suite decides."""
    run = run_tests(r.box, alone, timeout=time_left(r.verify_options()))
    r.tested(run, "reproduction alone")
    mine = [t for k, t in run.tests.items() if runner.is_repro(k, path)]
    return bool(mine) and all(t.passed for t in mine)


def _added_file(diff: str, path: str) -> str:
    """The content of the file `path` a diff creates ("" if it creates none)."""
    m = re.search(rf"^\+\+\+ b/{re.escape(path)}\n@@[^\n]*\n(.*?)(?=^diff --git |\Z)", diff,
                  re.MULTILINE | re.DOTALL)
    if not m:
        return ""
    return "".join(ln[1:] + "\n" for ln in m.group(1).splitlines() if ln.startswith("+"))


def _empty_file(path: str) -> str:
    """A diff that creates the empty file `path`."""
    return (f"diff --git a/{path} b/{path}\nnew file mode 100644\n"
            "index 0000000..e69de29\n")


# 2. localize: functions from the tracebacks and failing tests, then a structural search of
#    the repo (localize/localize.py), within a token budget; optionally the model names more first

def _localize(r: Repair) -> None:
    def on_reply(reply: Reply) -> None:
        r.result.usage.add(reply)
        r.traj.log("model_reply", round=0, step="localize", texts=reply.texts,
                   prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
                   cost=reply.cost, seconds=round(reply.seconds, 3))

    with _timed(r.result, "localize"):
        r.snippets = localize_repo(
            r.snapshot.root, r.snapshot.files, task=r.opts.task,
            traceback=traces_of(r.baseline), failing_tests=r.failing, repo_path=r.box.repo_path,
            budget_tokens=r.opts.context_tokens, extra=r.files.added,
            model=r.model if r.opts.guided_localize else None, on_reply=on_reply,
            recalled=[(d.id, d.diff) for d in r.recalled], index=r.repo_index())
    r.traj.log("localize", files=[(f"{s.path}:{s.start_line}-{s.end_line}", s.why)
                                  for s in r.snippets])


# 3. recall: a few verified demonstrations and the insights that apply

def _recall(r: Repair) -> None:
    if r.memory is None or r.opts.memory_mode not in ("read", "online"):
        return
    r.progress("recalling similar repairs")
    with _timed(r.result, "recall"):
        found = recall_for(r.memory, r.opts.task, failure_map(r.baseline, r.failing))
    r.shown = [i.id for i in found.insights]
    r.recalled = found.demos
    r.memory_text = memory_block(found.insights, found.demos)
    r.traj.log("recall", insights=r.shown, demos=[d.id for d in found.demos])


# 4. propose: candidates from each proposer

def _propose(r: Repair, proposers: list[Proposer], rnd: int,
             last: list[Candidate]) -> list[Candidate]:
    cands: list[Candidate] = []
    with _timed(r.result, "propose"):
        for p in proposers:
            cands += p.propose(rnd, last)
    return cands




# 5. verify every distinct candidate in the sandbox (sandbox/verify.py owns the rule)

def _verify(r: Repair, pool: _BoxPool, cands: list[Candidate], rnd: int) -> None:
    todo = [c for c in cands if c.status == Status.PROPOSED]
    r.progress(f"round {rnd}: verifying {len(todo)} distinct candidate(s)")
    opts = r.verify_options()
    with _timed(r.result, "verify"):
        for cand, verdict in pool.map(
                lambda c, box: (c, verify(box, c.diff, r.baseline, r.failing, opts)), todo):
            cand.judged(verdict)
            if verdict.run is not None:
                r.tested(verdict.run, "candidate", round=rnd)
    for cand in cands:
        r.traj.log("candidate", **cand.to_dict())


# 6. select: verified first, then the smallest change; identical patches vote

def _select(r: Repair) -> None:
    result = r.result
    votes: dict[str, int] = {}
    for c in result.candidates:
        if c.verified:
            votes[normalize_diff(c.patch)] = votes.get(normalize_diff(c.patch), 0) + c.votes
    verified = sorted((c for c in result.candidates if c.verified),
                      key=lambda c: (c.lines_changed, -votes[normalize_diff(c.patch)]))
    if verified:
        result.status, result.patch = Outcome.VERIFIED, verified[0].patch
        result.message = (f"verified fix: {len(r.failing)} failing test(s) now pass, "
                          "no passing test broke")
    elif result.status != Outcome.BUDGET:
        result.message = f"no verified fix in {result.rounds} round(s)"


# 7. learn: the episode, the credit of the insights shown, new insights from a verified fix

def _learn(r: Repair) -> None:
    opts = r.opts
    if r.memory is None or opts.memory_mode != "online" or not r.result.candidates:
        return
    r.progress("learning from this repair")
    with _timed(r.result, "learn"):
        episode = learn(r.memory, r.model, r.result, opts.repo_name, opts.task,
                        failure_map(r.baseline, r.failing), str(r.traj.dir), r.shown, r.traj)
    if episode is not None:  # None: memory failed and said so; the result stands
        r.traj.log("learn", episode=episode.id, outcome=episode.outcome)


@contextmanager
def _timed(result: RepairResult, step: str):
    t = time.monotonic()
    try:
        yield
    finally:
        result.steps[step] = result.steps.get(step, 0.0) + time.monotonic() - t


def _more_boxes(r: Repair, proposers: list[Proposer]) -> Callable[[], Sandbox] | None:
    """Sandboxes to verify in beside the first: the proposers' idle ones, then new ones."""
    if r.more_boxes is None:
        return None
    def more() -> Sandbox:
        for p in proposers:
            box = p.spare_box()
            if box is not None:
                return box
        return r.more_boxes()

    return more


class _BoxPool:
    """The first sandbox plus up to workers-1 more, started on first need."""

    def __init__(self, first: Sandbox, more: Callable[[], Sandbox] | None, workers: int) -> None:
        self.boxes = [first]
        self.more = more
        self.workers = max(1, workers if more else 1)

    def map(self, fn, items: list):
        items = list(items)
        want = min(self.workers, len(items))
        while len(self.boxes) < want:
            self.boxes.append(self.more())
        if want <= 1:
            return [fn(item, self.boxes[0]) for item in items]
        free: queue.Queue = queue.Queue()
        for b in self.boxes[:want]:
            free.put(b)

        def run(item):
            b = free.get()
            try:
                return fn(item, b)
            finally:
                free.put(b)

        return pmap(run, items, want)

    def close(self) -> None:
        for b in self.boxes[1:]:
            b.close()
