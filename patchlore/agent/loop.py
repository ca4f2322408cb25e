"""The repair loop, top to bottom:

    reproduce -> localize -> recall -> propose N -> verify in sandbox -> select -> learn
                                       ^                   |
                                       +---- feedback -----+   (bounded rounds)

Only the sandbox decides what is verified: every test that failed now passes, and every test
that passed still passes. Given only an issue text and green tests, reproduce first asks the
model for a test that fails on the bug; candidates are verified with it, and it is left out of
the final patch. Recall and learn (memory) plug in around propose and after select.
"""

from __future__ import annotations

import queue
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from patchlore.agent.edits import edits_to_diff, parse_answer
from patchlore.agent.explore import Budget
from patchlore.agent.learn import learn
from patchlore.agent.localize import localize, read_sources
from patchlore.agent.model import Model, Usage
from patchlore.agent.prompts import (REPRO_FILE, SYSTEM, feedback_message, memory_block,
                                     repro_message, task_message)
from patchlore.agent.trajectory import Trajectory
from patchlore.memory.retrieve import recall
from patchlore.memory.signature import signature_of
from patchlore.memory.store import MemoryStore
from patchlore.sandbox.base import Sandbox
from patchlore.sandbox.snapshot import Snapshot
from patchlore.sandbox.testrun import ERROR, FAILED, PASSED, XFAIL, TestRun, run_tests

TEST_FILE = re.compile(r"(^|/)(tests?/|testing/|test_[^/]*\.py$|[^/]*_test\.py$|conftest\.py$)")


@dataclass
class RepairOptions:
    test_cmd: str
    task: str = ""  # issue text, if any
    samples: int = 4
    rounds: int = 2
    test_timeout: float | None = None
    max_calls: int | None = None
    max_cost: float | None = None
    deadline: float | None = None  # time.monotonic() at which the run stops
    workers: int = 1  # sandboxes verifying candidates at once
    memory: MemoryStore | None = None
    memory_mode: str = "off"  # off | read (recall only) | online (recall and learn)
    repo_name: str = ""
    context_tokens: int = 6000
    allow_test_edits: bool = False


@dataclass
class Candidate:
    round: int
    diff: str
    answer: str = ""
    votes: int = 1
    verified: bool = False
    reason: str = ""
    lines_changed: int = 0
    counts: dict = field(default_factory=dict)


@dataclass
class RepairResult:
    status: str  # verified | unverified | nothing-to-fix | budget
    message: str
    patch: str = ""
    failing_before: list[str] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    rounds: int = 0
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    test_seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # seconds per loop step

    @property
    def verified(self) -> bool:
        return self.status == "verified"

    def to_dict(self) -> dict:
        return asdict(self)


def repair(snapshot: Snapshot, box: Sandbox, model: Model, opts: RepairOptions,
           traj: Trajectory, more_boxes: Callable[[], Sandbox] | None = None,
           progress: Callable[[str], None] = lambda s: None) -> RepairResult:
    start = time.monotonic()
    result = RepairResult(status="unverified", message="")

    # 1. reproduce: what fails now, and what passes and must keep passing
    progress("reproducing: running the tests")
    with _timed(result, "reproduce"):
        baseline = run_tests(box, opts.test_cmd, timeout=opts.test_timeout)
    result.test_seconds += baseline.command.duration
    traj.log("test_run", phase="baseline", run=baseline.to_dict())
    failing = _failing(baseline)
    files = read_sources(snapshot.root, snapshot.files)
    repro = ""  # with only an issue text: a reproduction test, verified with, never shipped
    if not failing and opts.task:
        progress("reproducing: asking for a test that shows the bug")
        with _timed(result, "reproduce"):
            repro, baseline = _reproduction(box, model, opts, files, baseline, result, traj)
        if not repro:
            result.status = "unverified"
            result.message = "could not write a reproduction test that fails on the bug"
            return _finish(result, start, traj)
        failing = _failing(baseline)
        files[REPRO_FILE] = _added_file(repro)
    result.failing_before = failing
    if not failing:
        result.status, result.message = "nothing-to-fix", "the tests pass: nothing to fix"
        return _finish(result, start, traj)

    # 2. localize: traceback frames in the repo, then lexical search, within a token budget
    with _timed(result, "localize"):
        traces = "\n".join(t.message for t in baseline.tests.values() if not t.passed)
        if baseline.kind != "junit":
            traces = baseline.command.stdout[-4000:] + baseline.command.stderr[-4000:]
        test_files = sorted({t.split("::")[0] for t in failing if "::" in t})
        snippets = localize(files, traces, test_files, f"{opts.task}\n{traces}",
                            box.repo_path, opts.context_tokens)
    traj.log("localize", files=[(s.path, s.why) for s in snippets])

    # 3. recall: a few verified demonstrations and the insights that apply
    failures = _failure_map(baseline, failing)
    shown: list[str] = []
    memory_text = ""
    if opts.memory is not None and opts.memory_mode in ("read", "online"):
        progress("recalling similar repairs")
        with _timed(result, "recall"):
            found = recall(opts.memory, f"{opts.task}\n{signature_of(failures).text()}")
        shown = [i.id for i in found.insights]
        memory_text = memory_block(found.insights, found.demos)
        traj.log("recall", insights=shown, demos=[d.id for d in found.demos])

    messages = [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": task_message(opts.task, _failure_text(baseline),
                                                         snippets, memory=memory_text)}]
    pool = _BoxPool(box, more_boxes, opts.workers)
    try:
        for rnd in range(1, opts.rounds + 1):
            stop = _budget_left(result, opts)
            if stop:
                result.status, result.message = "budget", stop
                break
            # 4. propose: N candidates from one request (one shared prompt prefix)
            progress(f"round {rnd}: asking {model.name} for {opts.samples} candidates")
            traj.log("prompt", round=rnd, messages=messages, n=opts.samples)
            with _timed(result, "propose"):
                reply = model.complete(messages, n=opts.samples)
            result.usage.add(reply)
            result.rounds = rnd
            traj.log("model_reply", round=rnd, texts=reply.texts,
                     prompt_tokens=reply.prompt_tokens,
                     completion_tokens=reply.completion_tokens, cost=reply.cost,
                     seconds=round(reply.seconds, 3))
            with _timed(result, "parse"):
                cands = _candidates(reply.texts, rnd, files)
            # 5. verify every distinct candidate in the sandbox
            progress(f"round {rnd}: verifying {len(cands)} distinct candidate(s)")
            with _timed(result, "verify"):
                for cand, run in pool.map(
                        lambda c, b: _verify(c, b, baseline, failing, opts, repro), cands):
                    if run is not None:
                        result.test_seconds += run.command.duration
                        traj.log("test_run", phase="candidate", round=rnd, run=run.to_dict())
                    traj.log("candidate", **asdict(cand))
            result.candidates += cands
            if any(c.verified for c in cands):
                break
            messages += [{"role": "assistant", "content": reply.texts[0]},
                         {"role": "user", "content": feedback_message(
                             [(c.diff or c.answer[-800:], c.reason) for c in cands])}]
    finally:
        pool.close()

    # 6. select: verified first, then the smallest change; identical diffs vote
    verified = sorted((c for c in result.candidates if c.verified),
                      key=lambda c: (c.lines_changed, -c.votes))
    if verified:
        result.status, result.patch = "verified", verified[0].diff
        result.message = (f"verified fix: {len(failing)} failing test(s) now pass, "
                          "no passing test broke")
    elif result.status != "budget":
        result.message = f"no verified fix in {result.rounds} round(s)"

    # 7. learn: the episode, the credit of the insights shown, new insights from a verified fix
    if opts.memory is not None and opts.memory_mode == "online" and result.candidates:
        progress("learning from this repair")
        with _timed(result, "learn"):
            episode = learn(opts.memory, model, result, opts.repo_name, opts.task, failures,
                            str(traj.dir), shown, traj)
        traj.log("learn", episode=episode.id, outcome=episode.outcome)
    return _finish(result, start, traj)


def _failing(run: TestRun) -> list[str]:
    if run.kind == "junit" and run.tests:
        return run.ids(FAILED, ERROR)
    return [] if run.passed else [f"`{run.command.command}` (exit {run.command.exit_code})"]


def _failure_map(run: TestRun, failing: list[str]) -> dict[str, str]:
    if run.kind == "junit" and run.tests:
        return {t: run.tests[t].message for t in failing if t in run.tests}
    return {t: (run.command.stdout + run.command.stderr)[-3000:] for t in failing}


def _failure_text(run: TestRun, limit: int = 6000) -> str:
    if run.kind == "junit" and run.tests:
        text = "\n\n".join(f"{k}\n{t.message}" for k, t in sorted(run.tests.items())
                           if t.status in (FAILED, ERROR))
    else:
        text = (run.command.stdout + run.command.stderr)[-limit:]
    return text[:limit]


def _candidates(texts: list[str], rnd: int, files: dict[str, str]) -> list[Candidate]:
    """Distinct candidates from the answers; identical normalized diffs become votes."""
    from unidiff import PatchSet
    from unidiff.errors import UnidiffParseError

    by_key: dict[str, Candidate] = {}
    out = []
    for text in texts:
        parsed = parse_answer(text)
        problems: list[str] = []
        diff = "\n".join(parsed.diffs)
        if parsed.edits:
            diff, problems = edits_to_diff(parsed.edits, files.get)
        cand = Candidate(round=rnd, diff=diff, answer=text)
        if parsed.empty:
            cand.reason = "no edits found: answer with SEARCH/REPLACE blocks"
        elif problems:
            cand.reason = "some edits did not match:\n" + "\n".join(problems)
        elif not diff.strip():
            cand.reason = "the edits change nothing"
        try:
            patch = PatchSet(diff) if diff.strip() else []
            cand.lines_changed = sum(f.added + f.removed for f in patch)
        except UnidiffParseError:
            pass  # the sandbox's patch tools will say what is wrong with it
        key = _normalize(diff) if not cand.reason else f"invalid-{len(out)}"
        if key in by_key:
            by_key[key].votes += 1
            continue
        by_key[key] = cand
        out.append(cand)
    return out


def _normalize(diff: str) -> str:
    return "\n".join(ln.rstrip() for ln in diff.splitlines()
                     if ln[:1] in "+-" and not ln.startswith(("+++", "---")))


def _reproduction(box: Sandbox, model: Model, opts: RepairOptions, files: dict[str, str],
                  before: TestRun, result: RepairResult, traj: Trajectory) -> tuple[str, TestRun]:
    """A reproduction test that fails now; returns its diff and the test run with it added."""
    snippets = localize(files, "", [], opts.task, box.repo_path, opts.context_tokens)
    messages = [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": repro_message(opts.task, snippets)}]
    traj.log("prompt", round=0, messages=messages, n=opts.samples)
    reply = model.complete(messages, n=opts.samples)
    result.usage.add(reply)
    traj.log("model_reply", round=0, texts=reply.texts, prompt_tokens=reply.prompt_tokens,
             completion_tokens=reply.completion_tokens, cost=reply.cost,
             seconds=round(reply.seconds, 3))
    passing = {k for k, t in before.tests.items() if t.passed}
    for cand in _candidates(reply.texts, 0, files):
        if cand.reason or not _added_file(cand.diff) or not box.apply_patch(cand.diff,
                                                                             reset=True).applied:
            continue
        run = run_tests(box, opts.test_cmd, timeout=opts.test_timeout)
        result.test_seconds += run.command.duration
        new_failures = [t for t in _failing(run) if t.startswith(REPRO_FILE)]
        others_ok = passing <= {k for k, t in run.tests.items() if t.passed}
        traj.log("reproduction", diff=cand.diff, fails=new_failures, others_ok=others_ok)
        if new_failures and others_ok:
            return cand.diff, run
    return "", before


def _added_file(diff: str) -> str:
    """The content of the repro file a diff creates ("" if it creates none)."""
    m = re.search(rf"^\+\+\+ b/{re.escape(REPRO_FILE)}\n@@[^\n]*\n(.*)", diff,
                  re.MULTILINE | re.DOTALL)
    if not m:
        return ""
    return "".join(ln[1:] + "\n" for ln in m.group(1).splitlines() if ln.startswith("+"))


def _verify(cand: Candidate, box: Sandbox, baseline: TestRun, failing: list[str],
            opts: RepairOptions, repro: str = "") -> tuple[Candidate, TestRun | None]:
    if cand.reason:
        return cand, None
    touched = re.findall(r"^\+\+\+ b/(\S+)|^--- a/(\S+)", cand.diff, re.MULTILINE)
    tests_touched = sorted({a or b for a, b in touched if TEST_FILE.search(a or b)})
    if tests_touched and not opts.allow_test_edits:
        cand.reason = f"edits test files ({', '.join(tests_touched)}): fix the code, not the tests"
        return cand, None
    applied = box.apply_patch(repro + cand.diff, reset=True)
    if not applied.applied:
        cand.reason = f"the diff does not apply: {applied.reason}"
        return cand, None
    run = run_tests(box, opts.test_cmd, timeout=opts.test_timeout)
    cand.counts = run.counts
    if run.command.timed_out:
        cand.reason = "the tests timed out"
    elif baseline.kind == "junit" and baseline.tests:
        ok = {k for k, t in run.tests.items() if t.passed}
        still = [t for t in failing if t not in ok]
        kept = {k for k, t in baseline.tests.items() if t.status in (PASSED, XFAIL)}
        broken = sorted(kept - ok)
        parts = []
        if broken:
            parts.append("breaks tests that passed before:\n" + _outcomes(run, broken, 800))
        if still:
            parts.append("still failing:\n" + _outcomes(run, still, 1200))
        cand.reason = "\n".join(parts)
    elif not run.passed:
        cand.reason = f"the test command still fails:\n{(run.command.stdout + run.command.stderr)[-1500:]}"
    cand.verified = not cand.reason
    return cand, run


def _outcomes(run: TestRun, ids: list[str], chars: int) -> str:
    return "\n".join(f"{t}\n{run.tests[t].message[-chars:]}" if t in run.tests
                     else f"{t} (missing)" for t in ids[:5])


def _budget_left(result: RepairResult, opts: RepairOptions) -> str:
    return Budget(result.usage, opts.max_calls, opts.max_cost, opts.deadline).exceeded()


def _finish(result: RepairResult, start: float, traj: Trajectory) -> RepairResult:
    result.seconds = time.monotonic() - start
    traj.log("result", **{k: v for k, v in result.to_dict().items() if k != "candidates"})
    return result


@contextmanager
def _timed(result: RepairResult, step: str):
    t = time.monotonic()
    try:
        yield
    finally:
        result.steps[step] = result.steps.get(step, 0.0) + time.monotonic() - t


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

        with ThreadPoolExecutor(max_workers=want) as ex:
            return list(ex.map(run, items))

    def close(self) -> None:
        for b in self.boxes[1:]:
            b.close()
