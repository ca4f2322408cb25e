"""Models: litellm for real servers (imported only when a model is called), replay for reruns.

Every model answers one request with N choices, so a vLLM server shares the prompt prefix.
"""

from __future__ import annotations

import copy
import json
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from patchlore.errors import PatchloreError


class ModelError(PatchloreError):
    """The model cannot be reached or used: a setup problem (exit 2)."""


class ToolsUnsupported(ModelError):
    """The server refused a request that offered tools (vLLM without auto tool choice)."""


class ContextFull(ModelError):
    """The conversation no longer fits the model's context window."""


class DeadlineReached(ModelError):
    """The run's --timeout came before the model's answer: the run ends as out of budget."""

    def __init__(self) -> None:
        super().__init__("stopped at --timeout (the model had not answered)")


@dataclass
class Reply:
    texts: list[str]
    # per choice, the tool calls asked for: {"id", "name", "arguments"} (a JSON string)
    calls: list[list[dict]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    cost_known: bool = True
    seconds: float = 0.0


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    unpriced_calls: int = 0  # calls whose price litellm does not know: counted as zero
    seconds: float = 0.0

    def add(self, reply: Reply) -> None:
        self.calls += 1
        self.prompt_tokens += reply.prompt_tokens
        self.completion_tokens += reply.completion_tokens
        self.cost += reply.cost
        self.unpriced_calls += 0 if reply.cost_known else 1
        self.seconds += reply.seconds


class Model(Protocol):
    name: str
    tools_refused: bool  # its server refused a tool call: ask for text from then on

    def complete(self, messages: list[dict], n: int = 1,
                 tools: list[dict] | None = None) -> Reply: ...

    def for_sample(self, index: int) -> Model:
        """The model parallel exploration `index` asks (a replay: that sample's replies)."""
        ...


@dataclass
class LitellmModel:
    name: str
    api_base: str = ""
    timeout: float = 300.0
    retries: int = 3
    temperature: float = 0.8
    max_tokens: int = 4096
    backoff: float = 1.0
    extra: dict = field(default_factory=dict)
    deadline: float | None = None  # time.monotonic() at which the run stops: requests end there
    tools_refused: bool = False  # set by the first refusal, so each server is asked once

    def for_sample(self, index: int) -> LitellmModel:
        return self  # every exploration asks the same server

    def warm(self) -> None:
        """Import what `complete` needs (litellm: seconds), ahead of the first request."""
        from patchlore.llm.litellm_import import import_litellm

        import_litellm()

    def complete(self, messages: list[dict], n: int = 1,
                 tools: list[dict] | None = None) -> Reply:
        from patchlore.llm.litellm_import import import_litellm

        litellm = import_litellm()
        kwargs = dict(model=self.name, messages=messages, n=n,
                      temperature=self.temperature if n > 1 else 0.0,
                      max_tokens=self.max_tokens, **self.extra)
        if tools:
            # litellm's MCP gateway check imports the optional `mcp` package whenever tools are
            # given, and fails without it; plain function tools never need that gateway
            kwargs.update(tools=tools, tool_choice="auto", _skip_mcp_handler=True)
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.name.startswith("hosted_vllm/") and not os.environ.get("HOSTED_VLLM_API_KEY"):
            kwargs["api_key"] = "EMPTY"  # a local vLLM server wants none, litellm wants one
        start = time.monotonic()

        def attempt():  # each attempt waits no longer than the run has left
            left = self._seconds_left()
            if left == 0.0:
                raise DeadlineReached
            return litellm.completion(**kwargs, timeout=min(self.timeout, left or self.timeout))

        try:
            response = self._retrying(litellm)(attempt)
        except DeadlineReached:
            raise
        except Exception as exc:  # litellm maps every provider's errors to its own types
            if self._seconds_left() == 0.0:  # cut at the deadline: not the server's fault
                raise DeadlineReached from None
            error = self._explain(exc, litellm, bool(tools))
            self.tools_refused = self.tools_refused or isinstance(error, ToolsUnsupported)
            raise error from None
        if not response.choices:
            raise ModelError(f"the model server at {self.api_base or 'the provider'} answered "
                             f"with no choices (model {self.name!r})",
                             hint="check the server's log; a vLLM server that ran out of "
                             "memory or a proxy can answer this way")
        texts = [(c.message.content or "") for c in response.choices]
        calls = [[{"id": t.id, "name": t.function.name, "arguments": t.function.arguments or ""}
                  for t in (getattr(c.message, "tool_calls", None) or [])]
                 for c in response.choices]
        usage = getattr(response, "usage", None)
        cost, known = 0.0, True
        try:
            cost = float(litellm.completion_cost(completion_response=response) or 0.0)
        except Exception:  # unknown model price: zero, and the summary says so
            known = False
        return Reply(texts=texts, calls=calls,
                     prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                     completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
                     cost=cost, cost_known=known, seconds=time.monotonic() - start)

    def _retrying(self, litellm):
        """Transient errors (litellm's own types) are retried with exponential backoff; a
        server that refuses connections or does not resolve is down, not busy: once only."""
        import tenacity

        e = litellm.exceptions
        transient = (e.RateLimitError, e.ServiceUnavailableError, e.InternalServerError,
                     e.APIConnectionError, e.BadGatewayError)  # Timeout is an APIConnectionError

        def stop(state: tenacity.RetryCallState) -> bool:
            limit = 1 if _unreachable(state.outcome.exception()) else self.retries
            return state.attempt_number > limit or self._seconds_left() == 0.0

        return tenacity.Retrying(retry=tenacity.retry_if_exception_type(transient), stop=stop,
                                 wait=tenacity.wait_exponential(multiplier=self.backoff),
                                 reraise=True)

    def _seconds_left(self) -> float | None:
        return None if self.deadline is None else max(self.deadline - time.monotonic(), 0.0)

    def _explain(self, exc: Exception, litellm, tools: bool = False) -> ModelError:
        e = litellm.exceptions
        kind = type(exc).__name__
        where = self.api_base or "the provider"
        text = str(exc).split("\n")[0][:200]
        if isinstance(exc, e.ContextWindowExceededError) or "maximum context length" in str(exc):
            return ContextFull(f"the conversation outgrew {self.name}'s context: {text}",
                               hint="serve the model with a larger --max-model-len")
        if tools and isinstance(exc, e.BadRequestError):  # UnsupportedParamsError is one
            return ToolsUnsupported(f"{where} refused tool calls: {text}")
        if isinstance(exc, (e.APIConnectionError, e.ServiceUnavailableError)) or \
                _unreachable(exc):
            return ModelError(f"model server at {where} not reachable ({kind})",
                              hint="start it (`vllm serve MODEL`), or pass --api-base / --model")
        if isinstance(exc, e.NotFoundError) or "does not exist" in text:
            return ModelError(f"model {self.name!r} unknown to {where}: {text}",
                              hint="check the served names with `patchlore doctor`")
        if isinstance(exc, e.AuthenticationError):
            return ModelError(f"{where} refused the credentials: {text}",
                              hint="set the provider's API key in the environment")
        if isinstance(exc, e.BadRequestError) and "LLM Provider NOT provided" in str(exc):
            return ModelError(f"litellm does not know the provider of {self.name!r}",
                              hint="use provider/model, e.g. hosted_vllm/NAME for a vLLM server")
        said = _server_said(str(exc))
        if "Unable to get json response" in str(exc) or isinstance(exc, json.JSONDecodeError):
            return ModelError(f"the model server at {where} answered with something that is not "
                              f"JSON: {said[:80]!r}", hint=NOT_AN_API)
        status = getattr(exc, "status_code", None)
        if isinstance(status, int) and status >= 500:
            return ModelError(f"the model server at {where} failed with HTTP {status} "
                              f"(retried {self.retries} times): {said[:120]}",
                              hint="check the server's log: out of GPU memory, a crash, or a "
                              "proxy in front of it that lost the server")
        return ModelError(f"model call failed: {kind}: {text}", hint=NOT_AN_API)


# what to do about an answer that is not the OpenAI API's
NOT_AN_API = ("--api-base must be the server's OpenAI-compatible endpoint, e.g. "
              "http://localhost:8000/v1, not a web page, a login or a proxy")


def _server_said(text: str) -> str:
    """What the server sent, without litellm's prefixes ('litellm.APIError: APIError:
    Hosted_vllmException - ') and, for an HTML page, without its tags."""
    text = " ".join(text.split())
    text = re.sub(r"^(?:litellm\.)?\w+: (?:\w+: )?\w+Exception - ", "", text)
    text = text.split("Original Response: ", 1)[-1]
    if text.lstrip().startswith("<"):
        text = " ".join(re.sub(r"<[^>]*>", " ", text).split()) or text
    return text


def _unreachable(exc: BaseException | None) -> bool:
    """Whether the connection itself failed (refused, or the host does not resolve): litellm
    reports that as an InternalServerError, with the socket's error down its cause chain."""
    while exc is not None:
        if isinstance(exc, (ConnectionRefusedError, socket.gaierror)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class ReplayModel:
    """Answers from a recorded trajectory, in order: deterministic reruns, demos and tests."""

    tools_refused = False  # it answers whatever was asked

    def __init__(self, path: str) -> None:
        p = Path(path)
        if p.is_dir():
            p = p / "trajectory.jsonl"
        try:
            lines = p.read_text().splitlines()
        except OSError as exc:
            raise ModelError(f"replay: {p}: {exc.strerror}",
                             hint="pass --model replay:PATH to a run directory or trajectory.jsonl")
        # parallel explorations ask in no fixed order: each sample's replies are a queue of
        # their own (the recording's `sample`), the rest one queue in recorded order
        self.queues: dict[int | None, list[Reply]] = {}
        for n, line in enumerate(lines, 1):
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                raise ModelError(f"replay: {p}:{n} is not JSON") from None
            if event.get("kind") == "model_reply":
                self.queues.setdefault(event.get("sample"), []).append(Reply(
                    texts=event["texts"], calls=event.get("calls", []),
                    prompt_tokens=event.get("prompt_tokens", 0),
                    completion_tokens=event.get("completion_tokens", 0)))
        if not self.queues:
            raise ModelError(f"replay: {p} holds no model replies")
        self.name = f"replay:{path}"
        self.sample: int | None = None

    def for_sample(self, index: int) -> ReplayModel:
        """The model one exploration asks: the replies recorded for that sample."""
        view = copy.copy(self)  # shares the queues
        view.sample = index
        return view

    def complete(self, messages: list[dict], n: int = 1,
                 tools: list[dict] | None = None) -> Reply:
        queue = self.queues.get(self.sample) or []
        if not queue:
            raise ModelError("replay: the recording has no more replies",
                             hint="replay with the same --samples and --rounds as the recording")
        reply = queue.pop(0)
        texts = [reply.texts[i % len(reply.texts)] for i in range(n)]
        calls = [reply.calls[i % len(reply.calls)] if reply.calls else [] for i in range(n)]
        return Reply(texts=texts, calls=calls if tools else [], prompt_tokens=reply.prompt_tokens,
                     completion_tokens=reply.completion_tokens)


def make_model(name: str, api_base: str = "", timeout: float = 300.0,
               deadline: float | None = None) -> Model:
    if name.startswith("replay:"):
        return ReplayModel(name.removeprefix("replay:"))
    return LitellmModel(name=name, api_base=api_base, timeout=timeout, deadline=deadline)
