"""Prompt layout. Fixed parts come first and never change within a task, so the N samples of a
request and the requests of later rounds share one prefix (a vLLM server caches it)."""

from __future__ import annotations

from patchlore.localize.picker import Snippet, SnippetKind

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


def task_message(task: str, failures: str, snippets: list[Snippet], guidance: str = "",
                 memory: str = "") -> str:
    parts = []
    if guidance:
        parts.append(guidance)
    if memory:
        parts.append(memory)
    parts.append("## Code")
    for s in snippets:
        if s.kind == SnippetKind.OUTLINE:  # line numbers here say where things are; they are no code
            parts.append(f"### {s.path} (outline: line number, then the def or class line)\n"
                         f"```\n{s.text.rstrip()}\n```")
            continue
        label = {SnippetKind.TRACEBACK: "in the traceback", SnippetKind.TEST: "failing test",
                 SnippetKind.MODEL: "named by the model",
                 SnippetKind.MEMORY: "a similar past repair changed it"}.get(s.kind, "related")
        parts.append(f"### {s.path} lines {s.start_line}-{s.end_line} ({label})\n"
                     f"```\n{s.text.rstrip()}\n```")
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


def repro_message(task: str, snippets: list[Snippet], path: str, style: str) -> str:
    """Ask for a test that fails now because of the reported bug (and will pass once fixed):
    `path` and `style` are where and in what form the repo's test runner runs it."""
    guidance = (f"First, reproduce the bug. Create the file `{path}` with {style} that FAIL "
                "now because of the bug described below and will PASS once it is fixed. Import "
                "the code as the existing tests do. Do not fix the bug yet. Answer with one "
                "SEARCH/REPLACE block whose SEARCH part is empty.")
    return task_message(task, "", snippets, guidance=guidance).replace(
        "Fix the bug. Answer with SEARCH/REPLACE edits.", "Write the reproduction test.")


def memory_block(insights: list, demos: list) -> str:
    """Recalled experience: insights first (stable for a task), then demonstrations as
    failure -> verified diff pairs. Every item here was verified by real tests."""
    parts = []
    if insights:
        parts.append("## Lessons from past repairs (each came from a fix that passed its tests)\n"
                     + "\n".join(f"- {i.text}" + (f" (applies when: {i.when})" if i.when else "")
                                 for i in insights))
    for n, ep in enumerate(demos, 1):
        sig = ep.signature
        failure = "\n".join(x for x in [ep.task.strip()[:600],
                                        f"{sig.exc_type}: {sig.message}".strip(": ")] if x)
        steps = "".join(f"\n$ {c}" for c in ep.commands[:8])
        parts.append(f"## Past repair {n} (verified by its tests)\n### Failure\n{failure}\n"
                     + (f"### Commands that mattered{steps}\n" if steps else "")
                     + f"### Verified fix\n```diff\n{ep.diff.strip()[:2500]}\n```")
    return "\n\n".join(parts)


DISTILL = """You keep a short list of general lessons for fixing bugs. A repair just finished and
its fix was verified by the tests. Compare the candidates that failed with the one that was
verified, and update the list.

Answer with a JSON list of operations and nothing else:
[{"op": "ADD", "text": "When <situation>, <what to check or do>.", "when": "<when it applies>"},
 {"op": "EDIT", "id": "<id>", "text": "<better wording>"},
 {"op": "AGREE", "id": "<id>"},
 {"op": "MERGE", "ids": ["<id>", "<id>"], "text": "<one lesson saying what both said>"},
 {"op": "REMOVE", "id": "<id>"}]

Lessons must be general: no file, function or variable names from this repo, one or two
sentences each. Add at most 2. Use [] when there is nothing worth keeping."""


def distill_message(task: str, failure: str, failed: list[tuple[str, str]], verified: str,
                    insights: list) -> str:
    parts = [f"## Task\n{task.strip()[:1500] or '(failing tests)'}",
             f"## Failure\n{failure.strip()[:1500]}"]
    for i, (diff, why) in enumerate(failed[:3], 1):
        parts.append(f"## Failed candidate {i}\n```diff\n{diff.strip()[:1200]}\n```\n"
                     f"Why: {why.strip()[:400]}")
    parts.append(f"## Verified fix\n```diff\n{verified.strip()[:2000]}\n```")
    current = "\n".join(f"- {i.id}: {i.text}" for i in insights) or "(empty)"
    parts.append(f"## Current lessons\n{current}")
    return "\n\n".join(parts)
