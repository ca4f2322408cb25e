"""Prompts of the exploring agent. The system message and the first user message are fixed for a
task; every later message is appended, so each request repeats the last one's messages as its
prefix (a vLLM server with prefix caching computes only the new tail)."""

from __future__ import annotations

SUBMIT = "submit"

SYSTEM = f"""You are patchlore, an expert software engineer. You fix a bug in a repository by
working in a Linux shell, one command at a time.

Every reply holds a short thought and exactly ONE shell command in ONE fenced block:

```bash
grep -rn "def total" --include=*.py .
```

The command runs in the repository's root, in a fresh shell (no `cd` or variable survives to
the next command), without network and without interactive input. Its output comes back as the
next message. Chain commands with && or ; when they belong together. When the `bash` tool is
offered, you may call it instead of writing the block; it means the same.

Work like this: find and read the relevant code (grep, sed -n 'A,Bp' FILE, nl -ba FILE), run
the failing tests, edit the code (sed -i, or a python3 or cat <<'EOF' script), and run the
tests again. Fix the code under test; never edit, skip or delete existing tests. Keep the change
small. Put scratch files under /tmp, not in the repository.

When the fix is done, reply with a block whose first line is `{SUBMIT}`:

```bash
{SUBMIT}
```

Your change to the repository (as `git diff` shows it) is then checked by the full test suite.
You cannot run more commands after `{SUBMIT}`."""

FORMAT_REMINDER = f"""Your reply was not run: it must hold exactly one ```bash block (it held {{found}}).
Reply with a short thought and one block with one command. When you are done, run `{SUBMIT}`."""

TOOL_REMINDER = f"""Not run: call `bash` once per reply, with a "command" string. When you are done,
run `{SUBMIT}`."""


def first_message(task: str, failures: str, test_cmd: str, memory: str = "") -> str:
    """The task as the model first sees it; recalled experience goes first (stable)."""
    parts = []
    if memory:
        parts.append(memory)
    if task:
        parts.append(f"## Task\n{task.strip()}")
    if failures:
        parts.append(f"## Failing tests\n{failures.strip()}")
    parts.append(f"## How the fix is checked\n`{test_cmd}` must pass: every failing test, and "
                 "every test that passes now.")
    parts.append("Start by looking around the repository.")
    return "\n\n".join(parts)


def observation(exit_code: int | None, output: str, limit: int, timed_out: bool = False,
                timeout: float = 0.0) -> str:
    """A command's output as the model sees it: head and tail of long output, with a note."""
    note = ""
    if len(output) > limit:
        half = limit // 2
        cut = len(output) - 2 * half
        output = (f"{output[:half]}\n[... {cut} characters cut: use head, tail, grep or "
                  f"sed -n 'A,Bp' to see less at a time ...]\n{output[-half:]}")
    if timed_out:
        note = (f"The command was killed after {timeout:.0f} s. Avoid commands that wait for "
                "input or run for long.\n")
    code = "killed" if exit_code is None else str(exit_code)
    return f"{note}<exit_code>{code}</exit_code>\n<output>\n{output}</output>"


def feedback(reason: str) -> str:
    """Why a submitted change was not verified; exploring resumes from that change."""
    return (f"Your change was checked and is not verified yet:\n{reason.strip()[:3000]}\n\n"
            "The repository holds your change. Continue, and run `submit` when it is fixed.")


BASH_TOOL = {
    "type": "function",
    "function": {
        "name": "bash",
        "description": "Run one shell command in the repository's root and return its output.",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string", "description": "The command."}},
            "required": ["command"],
        },
    },
}
