"""How a repair or an exploration ended: one type for both, so a status is never a bare string.

A `StrEnum`, so the values written to result files and `--json` stay the strings they were
("verified", "nothing-to-fix", ...) and compare equal to them.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    # a repair's end (RepairResult.status)
    VERIFIED = "verified"  # a candidate passed the sandbox's verification
    UNVERIFIED = "unverified"  # the rounds ended without one
    NOTHING_TO_FIX = "nothing-to-fix"  # the tests pass (or no reproduction test could be made)
    BUDGET = "budget"  # a limit stopped the run: calls, cost or the run deadline
    # an exploration's end (Exploration.status); BUDGET as above
    RUNNING = "running"  # not ended yet
    SUBMITTED = "submitted"  # the model submitted its change
    STEP_LIMIT = "step-limit"  # --max-steps replies in this round
    CONTEXT = "context"  # the conversation outgrew the model's context


CONTINUABLE = frozenset({Outcome.STEP_LIMIT, Outcome.CONTEXT})  # another round may go on
