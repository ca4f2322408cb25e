"""What a proposer works with and what it returns, shared by the loop and every proposer.

`Repair` is one repair as the loop's steps build it up (repair/loop.py); a `Proposer` gets it and
returns `Candidate`s for a round. Living here, below the loop, keeps the proposers from importing
the loop that calls them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from patchlore.config import Settings, default_of
from patchlore.llm.model import DeadlineReached, Model, Reply, Usage
from patchlore.localize.index import RepoIndex, load_or_build
from patchlore.localize.picker import Snippet
from patchlore.memory.store import MemoryStore
from patchlore.propose.edits import RepoFiles, lines_changed
from patchlore.propose.explore import Budget
from patchlore.propose.outcome import Outcome
from patchlore.sandbox.base import Sandbox
from patchlore.sandbox.runners import repo_test_cmd
from patchlore.sandbox.snapshot import Snapshot
from patchlore.sandbox.testrun import ERROR, FAILED, TestRun, run_tests
from patchlore.sandbox.verify import Status, Verdict, VerifyOptions, time_left
from patchlore.trajectory import Trajectory


@dataclass(frozen=True)
class RepairOptions:
    """One repair's limits and choices, made once (`of`) and never changed after."""

    test_cmd: str
    task: str = ""  # issue text, if any
    samples: int = default_of("samples")
    rounds: int = default_of("rounds")
    test_timeout: float | None = None
    max_calls: int | None = None
    max_cost: float | None = None
    deadline: float | None = None  # time.monotonic() at which the run stops, tests included
    workers: int = 1  # sandboxes verifying candidates at once
    memory_mode: str = "off"  # off | read (recall only) | online (recall and learn)
    repo_name: str = ""
    context_tokens: int = default_of("context_budget")
    guided_localize: bool = False  # one request: the model names files and functions to show
    allow_test_edits: bool = False
    max_steps: int = default_of("max_steps")  # model replies per exploration round (explore)
    # an issue gets its reproduction test even where tests fail already, which are then not
    # the bug (eval run: a row's bug shows in tests it hides; what fails before is the
    # environment's); else tests that fail are the bug, and the issue tells about it
    repro_always: bool = False

    @classmethod
    def of(cls, settings: Settings, repo_name: str, start: float | None = None,
           workers: int = 0, root: Path | None = None, **run) -> RepairOptions:
        """A run's options from its settings; `start` (time.monotonic()) starts the clock of
        the `deadline` setting, none without it; `run` holds this run's own (task, max_calls,
        max_cost, allow_test_edits). No workers given: a sandbox per CPU, at most samples.
        With the repo's `root`, a repo with a test runner of its own is tested with it unless
        a test command was chosen."""
        deadline = start + settings.deadline if start is not None and settings.deadline else None
        test_cmd = repo_test_cmd(settings, root) if root is not None else settings.test_cmd
        return cls(test_cmd=test_cmd, samples=settings.samples, rounds=settings.rounds,
                   test_timeout=settings.command_timeout, deadline=deadline,
                   workers=workers or min(settings.samples, os.cpu_count() or 1),
                   memory_mode=settings.memory_mode, repo_name=repo_name,
                   context_tokens=settings.context_budget,
                   guided_localize=settings.localize == "model", max_steps=settings.max_steps,
                   **run)


@dataclass
class Candidate:
    round: int
    diff: str  # as proposed
    answer: str = ""  # the model's answer, capped (trajectory.cap_text)
    source: str = "pipeline"  # the proposer it came from
    votes: int = 1
    status: Status = Status.PROPOSED
    reason: str = ""  # why it is not verified (empty when it is)
    patch: str = ""  # the sandbox's own diff once applied: what ships
    lines_changed: int = 0
    counts: dict = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)  # an exploration's that mattered

    @property
    def verified(self) -> bool:
        return self.status == Status.VERIFIED

    def judged(self, verdict: Verdict) -> None:
        self.status, self.reason, self.patch = verdict.status, verdict.reason, verdict.patch
        self.lines_changed = lines_changed(verdict.patch) if verdict.patch else 0
        self.counts = verdict.run.counts if verdict.run else {}

    def to_dict(self) -> dict:
        return {**asdict(self), "status": self.status.value, "verified": self.verified}


@dataclass
class RepairResult:
    status: Outcome
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
        return self.status == Outcome.VERIFIED

    def to_dict(self) -> dict:
        out = asdict(self)
        out["candidates"] = [c.to_dict() for c in self.candidates]
        return out


@dataclass
class Repair:
    """One repair as the steps build it up; what a proposer gets to work with."""

    snapshot: Snapshot
    box: Sandbox
    model: Model
    opts: RepairOptions
    traj: Trajectory
    progress: Callable[[str], None]
    more_boxes: Callable[[], Sandbox] | None = None
    memory: MemoryStore | None = None  # what recall reads and learn writes (memory_mode)
    result: RepairResult = field(default_factory=lambda: RepairResult(Outcome.UNVERIFIED, ""))
    baseline: TestRun | None = None  # the tests before any change (with the repro test)
    failing: list[str] = field(default_factory=list)  # what must pass (FAIL_TO_PASS)
    files: RepoFiles | None = None  # every text file of the repo, read when an edit names it
    repro: str = ""  # the reproduction test's diff: verified with, never shipped
    snippets: list[Snippet] = field(default_factory=list)
    memory_text: str = ""
    shown: list[str] = field(default_factory=list)  # ids of the insights in the prompt
    recalled: list = field(default_factory=list)  # the demonstrations recalled (Episode)
    index: RepoIndex | None = None  # the snapshot's localization index, once loaded

    def repo_index(self) -> RepoIndex:
        """The snapshot's index, loaded (or built) on first use: every localization of this
        repair uses the same one."""
        if self.index is None:
            self.index = load_or_build(self.snapshot.root, self.snapshot.files)
        return self.index

    def verify_options(self) -> VerifyOptions:
        return VerifyOptions(self.opts.test_cmd, self.opts.test_timeout, self.opts.deadline,
                             self.opts.allow_test_edits, extra=self.repro)

    def run_tests(self, phase: str, **where) -> TestRun:
        """The test command on the box as it is, within the time left; recorded."""
        run = run_tests(self.box, self.opts.test_cmd, timeout=time_left(self.verify_options()))
        self.tested(run, phase, **where)
        return run

    def tested(self, run: TestRun, phase: str, **where) -> None:
        self.result.test_seconds += run.command.duration
        self.traj.log("test_run", phase=phase, **where, run=run.to_dict())

    def ask(self, messages: list[dict], rnd: int) -> Reply:
        """One request for opts.samples answers, counted and recorded."""
        self.traj.log("prompt", round=rnd, messages=messages, n=self.opts.samples)
        try:
            reply = self.model.complete(messages, n=self.opts.samples)
        except DeadlineReached as exc:  # no answers; the rounds end at the deadline check
            self.traj.log("model_deadline", round=rnd, message=exc.message)
            self.result.status, self.result.message = Outcome.BUDGET, exc.message
            return Reply(texts=[])
        self.result.usage.add(reply)
        self.traj.log("model_reply", round=rnd, texts=reply.texts,
                      prompt_tokens=reply.prompt_tokens,
                      completion_tokens=reply.completion_tokens, cost=reply.cost,
                      seconds=round(reply.seconds, 3))
        return reply

    def stop_reason(self) -> str:
        """Why the run must stop now ('' while it may go on)."""
        opts = self.opts
        return Budget(self.result.usage, opts.max_calls, opts.max_cost, opts.deadline).exceeded()


class Proposer(Protocol):
    name: str
    localizes: bool  # the loop localizes the code for it (False: it finds the code itself)

    def propose(self, rnd: int, last: list[Candidate]) -> list[Candidate]:
        """Candidates for round `rnd`; `last` are the previous round's, judged (feedback)."""
        ...

    def spare_box(self) -> Sandbox | None:
        """A sandbox of its own, idle while candidates are verified, that verification may
        use (each time another one; None when it has no more)."""
        ...

    def close(self) -> None:
        """Release what it holds (sandboxes of its own), once the rounds are over."""
        ...


ProposerFactory = type[Proposer]  # a proposer class: made with the Repair, once per run

def failure_text(run: TestRun, limit: int = 6000) -> str:
    """What failed, for a prompt: each failing test's message, or the output's tail."""
    if run.per_test:
        text = "\n\n".join(f"{k}\n{t.message}" for k, t in sorted(run.tests.items())
                           if t.status in (FAILED, ERROR))
    else:
        text = (run.command.stdout + run.command.stderr)[-limit:]
    return text[:limit]

