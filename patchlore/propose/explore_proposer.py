"""The exploring proposer: `--samples` explorations in parallel sandboxes, one candidate each.

It plugs into the repair loop at "propose"; the loop verifies its candidates exactly as the
pipeline's. A later round resumes each exploration from its own change, told why it was not
verified.
"""

from __future__ import annotations

from dataclasses import dataclass

from patchlore.config import default_of
from patchlore.propose.explore import Budget, Exploration, ExploreOptions, explore, resume, start
from patchlore.propose.explore_prompts import feedback, first_message
from patchlore.propose.outcome import CONTINUABLE, Outcome
from patchlore.propose.context import Candidate, Repair, failure_text
from patchlore.pool import pmap
from patchlore.trajectory import cap_text
from patchlore.sandbox.verify import Status
from patchlore.sandbox.base import Sandbox



@dataclass
class Lane:
    """One exploration and the sandbox it works in."""

    index: int
    box: Sandbox
    run: Exploration
    tree: str = ""  # the box's whole diff when the exploration stopped (its own tests too)
    cand: Candidate | None = None


class ExploreProposer:
    name = "explore"
    localizes = False  # the model finds the code itself: no snippets to compute

    def __init__(self, r: Repair) -> None:
        self.r = r
        opts = r.opts
        self.opts = ExploreOptions(max_steps=opts.max_steps, command_timeout=opts.test_timeout
                                   or default_of("command_timeout"))
        self.budget = Budget(r.result.usage, opts.max_calls, opts.max_cost, opts.deadline)
        self.lanes: list[Lane] = []
        self.opened: list[Sandbox] = []
        self.lent = 0
        self.open_box = r.more_boxes

    def propose(self, rnd: int, last: list[Candidate]) -> list[Candidate]:
        r = self.r
        if not self.lanes:
            first = first_message(r.opts.task, failure_text(r.baseline), r.opts.test_cmd,
                                  r.memory_text)
            self.lanes = [Lane(i, self._box(i), start(first)) for i in range(r.opts.samples)]
            todo = self.lanes
        else:
            todo = [lane for lane in self.lanes if self._resumable(lane)]
        r.progress(f"round {rnd}: {len(todo)} exploration(s) with {r.model.name}")
        boxes = {id(lane.box) for lane in todo}
        if len(boxes) == len(todo) > 1:
            pmap(lambda lane: self._explore(lane, rnd), todo, len(todo))
        else:  # one sandbox: one exploration after the other
            for lane in todo:
                self._explore(lane, rnd)
        stopped = [lane.run.message for lane in todo if lane.run.status == Outcome.BUDGET]
        if stopped and not any(lane.run.submitted for lane in todo):
            r.result.status, r.result.message = Outcome.BUDGET, stopped[0]
        return [lane.cand for lane in todo if lane.cand is not None]

    def close(self) -> None:
        for box in self.opened:
            box.close()

    def _box(self, i: int) -> Sandbox:
        if i == 0 or self.open_box is None:
            return self.r.box
        box = self.open_box()
        self.opened.append(box)
        return box

    def spare_box(self) -> Sandbox | None:
        """The explorations' own sandboxes are idle while candidates are verified (each
        exploration restores its tree before it goes on): verifying in them starts none."""
        if self.lent < len(self.opened):
            self.lent += 1
            return self.opened[self.lent - 1]
        return None

    def _resumable(self, lane: Lane) -> bool:
        run = lane.run
        if run.submitted and lane.cand is not None and lane.cand.status != Status.VERIFIED:
            resume(run, feedback(lane.cand.reason))
            return True
        if run.status in CONTINUABLE:
            resume(run, f"You stopped: {run.message}. Continue, and run `submit` when done.")
            return True
        return False

    def _explore(self, lane: Lane, rnd: int) -> None:
        r = self.r
        # the box may have served others since: give back this exploration's tree (at first,
        # the snapshot with the reproduction test, if there is one, for the model to run)
        tree = lane.tree or r.repro
        if tree:
            lane.box.apply_patch(tree, reset=True)
        else:
            lane.box.reset()

        def log(kind: str, **data) -> None:
            r.traj.log(kind, round=rnd, sample=lane.index, **data)
            if kind == "explore_step":
                r.progress(f"round {rnd}, exploration {lane.index + 1}: "
                           f"{data['command'].splitlines()[0][:60]}")

        run = explore(lane.box, r.model.for_sample(lane.index), lane.run, self.opts,
                      self.budget, log)
        lane.tree = lane.box.diff()
        last_text = next((m.get("content") or "" for m in reversed(run.messages)
                          if m["role"] == "assistant"), "")
        lane.cand = Candidate(round=rnd, diff=run.diff, answer=cap_text(last_text),
                              source=self.name, commands=run.mattered())
        if not run.submitted:
            lane.cand.status = Status.INVALID
            lane.cand.reason = f"the exploration ended without `submit`: {run.message}"
