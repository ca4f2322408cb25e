"""Exploring: the model works in the sandbox, one shell command per reply (mini-swe-agent's shape).

Each reply holds exactly one ```bash block (or one call of the `bash` tool, where the server
offers tool calls); the command runs in the sandbox and its output is the next message. A reply
without exactly one command gets a format reminder. The model ends by running `submit`; the
candidate is then the sandbox's own diff, without the test files the model added for itself.
The message list only grows, so every request's prefix is the previous request (prefix cache).
Verification is not done here: the caller verifies the candidate like any other.
"""

from __future__ import annotations

import json
import re
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from patchlore.config import default_of
from patchlore.propose.outcome import Outcome
from patchlore.propose.explore_prompts import (BASH_TOOL, FORMAT_REMINDER, SUBMIT, SYSTEM,
                                             TOOL_REMINDER, observation)
from patchlore.llm.model import (ContextFull, DeadlineReached, Model, Reply, ToolsUnsupported,
                                   Usage)
from patchlore.sandbox.verify import TEST_FILE
from patchlore.sandbox.base import Sandbox

BLOCK = re.compile(r"```bash[ \t]*\n(.*?)```", re.DOTALL)
THINKING = re.compile(r"<think>.*?</think>", re.DOTALL)  # a reasoning model's hidden part
# plain output for a reader that is not a terminal; no pytest cache files in the diff
ENV = {"PAGER": "cat", "GIT_PAGER": "cat", "MANPAGER": "cat", "TERM": "dumb",
       "PIP_PROGRESS_BAR": "off", "TQDM_DISABLE": "1", "PYTEST_ADDOPTS": "-p no:cacheprovider"}
TOOLS, TEXT = "tools", "text"
@dataclass
class ExploreOptions:
    max_steps: int = default_of("max_steps")  # model replies per exploration round
    command_timeout: float = default_of("command_timeout")
    output_chars: int = 10_000  # of one command's output shown to the model (head and tail)


class Budget:
    """The run's limits, shared by explorations in parallel: model calls, cost, wall clock."""

    def __init__(self, usage: Usage, max_calls: int | None = None,
                 max_cost: float | None = None, deadline: float | None = None) -> None:
        self.usage = usage
        self.max_calls, self.max_cost, self.deadline = max_calls, max_cost, deadline
        self._lock = threading.Lock()

    def charge(self, reply: Reply) -> None:
        with self._lock:
            self.usage.add(reply)

    def exceeded(self) -> str:
        with self._lock:
            if self.max_calls is not None and self.usage.calls >= self.max_calls:
                return f"stopped at --max-calls {self.max_calls}"
            if self.max_cost is not None and self.usage.cost >= self.max_cost:
                return f"stopped at --max-cost {self.max_cost}"
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return "stopped at --timeout"
        return ""

    def seconds_left(self) -> float | None:
        return None if self.deadline is None else max(self.deadline - time.monotonic(), 0.0)


@dataclass
class Step:
    command: str
    exit_code: int | None
    seconds: float
    timed_out: bool = False


@dataclass
class Exploration:
    messages: list[dict]
    status: Outcome = Outcome.RUNNING
    message: str = ""
    diff: str = ""  # the candidate, once submitted
    steps: list[Step] = field(default_factory=list)
    mode: str = ""  # tools | text, once the server has answered
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    pending_call: str = ""  # the tool call of `submit`, answered by the next message

    @property
    def submitted(self) -> bool:
        return self.status == Outcome.SUBMITTED

    def mattered(self, limit: int = 12) -> list[str]:
        """The commands that named a file the diff changes: how it was found, read and edited.
        (Telling edits apart by diffing after every command would double a step's cost.)"""
        files = set(re.findall(r"^\+\+\+ b/(\S+)", self.diff, re.MULTILINE))
        names = {f.rsplit("/", 1)[-1] for f in files}
        return [s.command[:300] for s in self.steps if any(n in s.command for n in names)][-limit:]


def start(first_message: str) -> Exploration:
    return Exploration(messages=[{"role": "system", "content": SYSTEM},
                                 {"role": "user", "content": first_message}])


def resume(run: Exploration, message: str) -> Exploration:
    """Continue a finished exploration with one more user message (verification feedback)."""
    if run.pending_call:
        run.messages.append({"role": "tool", "tool_call_id": run.pending_call, "content": message})
    else:
        run.messages.append({"role": "user", "content": message})
    run.pending_call, run.status, run.message, run.diff = "", Outcome.RUNNING, "", ""
    return run


def explore(box: Sandbox, model: Model, run: Exploration, opts: ExploreOptions, budget: Budget,
            log: Callable[..., None] = lambda kind, **data: None) -> Exploration:
    """Step until the model submits, or a limit stops it. Returns `run`, updated."""
    begin = time.monotonic()
    # offer the bash tool until the server refuses it; then fenced blocks
    mode = run.mode or (TEXT if model.tools_refused else TOOLS)
    replies = 0
    while run.status == Outcome.RUNNING and not _limit_reached(run, budget, opts, replies):
        try:
            reply = model.complete(run.messages, n=1, tools=[BASH_TOOL] if mode == TOOLS else None)
        except ToolsUnsupported as exc:
            if run.mode:  # it took tools before: this refusal is about something else
                raise
            log("explore_tools", supported=False, why=exc.message)
            mode = TEXT
            continue
        except ContextFull as exc:
            run.status, run.message = Outcome.CONTEXT, exc.message
            break
        except DeadlineReached as exc:
            run.status, run.message = Outcome.BUDGET, exc.message
            break
        run.mode = mode
        replies += 1
        budget.charge(reply)
        run.usage.add(reply)
        calls = reply.calls[0] if reply.calls else []
        log("model_reply", texts=reply.texts, calls=reply.calls,
            prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens,
            cost=reply.cost, seconds=round(reply.seconds, 3))
        command, call_id, reminders = _read_reply(run, reply.texts[0], calls)
        if command is None:
            run.messages += reminders
        elif command.strip().splitlines()[0].strip() == SUBMIT:
            run.diff = without_own_tests(box.diff())
            run.status, run.pending_call = Outcome.SUBMITTED, call_id
            run.message = "submitted" if run.diff.strip() else "submitted without a change"
            log("explore_submit", diff=run.diff)
        else:
            _step(box, run, command, call_id, opts, budget, log)
    run.seconds += time.monotonic() - begin
    log("exploration", status=run.status, message=run.message, mode=run.mode,
        steps=len(run.steps), messages=run.messages)
    return run


def _limit_reached(run: Exploration, budget: Budget, opts: ExploreOptions, replies: int) -> bool:
    """Whether a limit ends the exploration before the next reply (`run` then says which)."""
    stop = budget.exceeded()
    if stop:
        run.status, run.message = Outcome.BUDGET, stop
    elif replies >= opts.max_steps:
        run.status = Outcome.STEP_LIMIT
        run.message = f"no `{SUBMIT}` within --max-steps {opts.max_steps}"
    return run.status != Outcome.RUNNING


def _step(box: Sandbox, run: Exploration, command: str, call_id: str, opts: ExploreOptions,
          budget: Budget, log: Callable[..., None]) -> None:
    """Run the model's command in the box; its output is the next message."""
    left = budget.seconds_left()
    timeout = opts.command_timeout if left is None else min(opts.command_timeout, left)
    done = box.run(f"exec bash -c {shlex.quote(command)} 2>&1 </dev/null", timeout=timeout,
                   env=ENV)
    step = Step(command, done.exit_code, round(done.duration, 3), done.timed_out)
    run.steps.append(step)
    log("explore_step", command=command, exit_code=done.exit_code, seconds=step.seconds,
        timed_out=done.timed_out)
    seen = observation(done.exit_code, done.stdout + done.stderr, opts.output_chars,
                       done.timed_out, timeout)
    run.messages.append({"role": "tool", "tool_call_id": call_id, "content": seen}
                        if call_id else {"role": "user", "content": seen})


def _read_reply(run: Exploration, text: str,
                calls: list[dict]) -> tuple[str | None, str, list[dict]]:
    """Record the assistant's reply. Returns its one command (or None), the id of the tool
    call that asked for it ("" in text), and otherwise the reminders to send: every tool call
    must be answered, by a reminder if not by an output."""
    if calls:
        run.messages.append({"role": "assistant", "content": text or None, "tool_calls": [
            {"id": c["id"], "type": "function",
             "function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]})
        command = _tool_command(calls[0]) if len(calls) == 1 else None
        if command is None:
            return None, "", [{"role": "tool", "tool_call_id": c["id"],
                               "content": TOOL_REMINDER} for c in calls]
        return command, calls[0]["id"], []
    run.messages.append({"role": "assistant", "content": text})
    blocks = BLOCK.findall(THINKING.sub("", text))
    if len(blocks) == 1 and blocks[0].strip():
        return blocks[0].strip(), "", []
    return None, "", [{"role": "user", "content": FORMAT_REMINDER.format(found=len(blocks))}]


def _tool_command(call: dict) -> str | None:
    try:
        args = json.loads(call["arguments"] or "{}")
    except json.JSONDecodeError:
        return None
    if call["name"] != "bash" or not isinstance(args, dict) \
            or not isinstance(args.get("command"), str):
        return None
    return args["command"].strip() or None


def without_own_tests(diff: str) -> str:
    """The diff without the test files it creates: the model's own checks, never shipped
    (changes to existing tests stay, for verification to judge)."""
    parts = re.split(r"(?m)^(?=diff --git )", diff)
    keep = []
    for part in parts:
        m = re.match(r"diff --git a/(\S+) b/", part)
        if m and TEST_FILE.search(m.group(1)) and re.search(r"(?m)^new file mode", part):
            continue
        keep.append(part)
    return "".join(keep)
