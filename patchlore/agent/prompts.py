"""Prompt layout. Fixed parts come first and never change within a task, so the N samples of a
request and the requests of later rounds share one prefix (a vLLM server caches it)."""

from __future__ import annotations

from patchlore.agent.localize import Snippet

SYSTEM = """You are patchlore, an expert software engineer who fixes bugs with small, correct edits.

Reply with a short explanation, then one or more edits in exactly this format:

path/to/file.py
<<<<<<< SEARCH
lines copied exactly from the file, with enough context to match one place
=======
the lines that replace them
>>>>>>> REPLACE

Rules:
- Fix the code under test. Never edit, skip or delete tests to make them pass.
- Keep the change as small as the fix allows, and keep tests that pass today passing.
- SEARCH must match the current file exactly, indentation included. To create a file, leave
  SEARCH empty.
"""


def task_message(task: str, failures: str, snippets: list[Snippet], guidance: str = "") -> str:
    parts = []
    if guidance:
        parts.append(guidance)
    parts.append("## Code")
    for s in snippets:
        label = {"traceback": "in the traceback", "test": "failing test",
                 "search": "related"}[s.why]
        parts.append(f"### {s.path} ({label})\n```\n{s.text.rstrip()}\n```")
    if task:
        parts.append(f"## Task\n{task.strip()}")
    if failures:
        parts.append(f"## Failing tests\n{failures.strip()}")
    parts.append("Fix the bug. Answer with SEARCH/REPLACE edits.")
    return "\n\n".join(parts)


def feedback_message(results: list[tuple[str, str]]) -> str:
    """Why each candidate of the last round failed: (diff or answer excerpt, reason)."""
    parts = ["None of those candidates was verified. What happened to each:"]
    for i, (diff, why) in enumerate(results, 1):
        shown = diff.strip()[:1500] or "(no edit)"
        parts.append(f"### Candidate {i}\n```diff\n{shown}\n```\n{why.strip()[:1500]}")
    parts.append("Write a new fix that avoids these problems. Answer with SEARCH/REPLACE edits.")
    return "\n\n".join(parts)


REPRO_FILE = "test_patchlore_repro.py"


def repro_message(task: str, snippets: list[Snippet]) -> str:
    """Ask for a test that fails now because of the reported bug (and will pass once fixed)."""
    guidance = (f"First, reproduce the bug. Create the file `{REPRO_FILE}` at the repo root with "
                "pytest tests that FAIL now because of the bug described below and will PASS "
                "once it is fixed. Import the code as the existing tests do. Do not fix the bug "
                "yet. Answer with one SEARCH/REPLACE block whose SEARCH part is empty.")
    return task_message(task, "", snippets, guidance=guidance).replace(
        "Fix the bug. Answer with SEARCH/REPLACE edits.", "Write the reproduction test.")
