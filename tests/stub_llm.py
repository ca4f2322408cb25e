"""A scripted OpenAI-compatible server on 127.0.0.1 for tests: real HTTP, real litellm.

Each chat request takes the next scripted answer: a list of choices (cycled to fill `n`), each
a text or a dict {"content": ..., "tool_calls": [{"name": ..., "arguments": {...}}]}, an int
HTTP status to fail with, a dict with "choices" sent as the whole response body (a malformed
reply), or a Raw body (not JSON at all: an HTML page, a torn reply); or the script is a function
of the request body (for callers whose requests arrive in no fixed order). Every request body
is recorded. Like a vLLM server started without --enable-auto-tool-choice, a request offering
tools is refused (400) unless `tools`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Raw:
    """A reply sent as it is, whatever it holds."""
    body: bytes
    status: int = 200
    content_type: str = "application/json"


class StubLLM:
    def __init__(self, script=None, model: str = "stub-coder", tools: bool = False):
        self.script = script if callable(script) else list(script or [])
        self.model = model
        self.tools = tools
        self.requests: list[dict] = []
        self.delay = 0.0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: dict | Raw) -> None:
                data = body.body if isinstance(body, Raw) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", body.content_type if isinstance(body, Raw)
                                 else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": stub.model}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append(body)
                if self.path.rstrip("/").endswith("/embeddings"):
                    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    self._send(200, {"object": "list", "model": body.get("model"),
                                     "data": [{"object": "embedding", "index": i,
                                               "embedding": stub.embed(t)}
                                              for i, t in enumerate(texts)],
                                     "usage": {"prompt_tokens": 1, "total_tokens": 1}})
                    return
                if body.get("tools") and not stub.tools:  # vLLM's words, not consuming the script
                    self._send(400, {"error": {"message": '"auto" tool choice requires '
                                               "--enable-auto-tool-choice and --tool-call-parser "
                                               "to be set", "type": "BadRequestError"}})
                    return
                if stub.delay:
                    time.sleep(stub.delay)
                if callable(stub.script):  # routes by request content: order-free
                    answer = stub.script(body)
                else:
                    answer = stub.script.pop(0) if stub.script else ["I have nothing to say."]
                if isinstance(answer, Raw):
                    self._send(answer.status, answer)
                    return
                if isinstance(answer, dict):
                    self._send(200, answer)
                    return
                if isinstance(answer, int):
                    self._send(answer, {"error": {"message": f"scripted {answer}",
                                                  "type": "server_error"}})
                    return
                n = int(body.get("n") or 1)
                choices = [_message(answer[i % len(answer)], len(stub.requests), i)
                           for i in range(n)]
                texts = [c["content"] or "" for c in choices]
                prompt_tokens = sum(len(str(m.get("content", ""))) // 4 for m in body["messages"])
                self._send(200, {
                    "id": f"chatcmpl-{len(stub.requests)}", "object": "chat.completion",
                    "created": int(time.time()), "model": body.get("model", stub.model),
                    "choices": [{"index": i, "message": m,
                                 "finish_reason": "tool_calls" if "tool_calls" in m else "stop"}
                                for i, m in enumerate(choices)],
                    "usage": {"prompt_tokens": prompt_tokens,
                              "completion_tokens": sum(len(t) // 4 for t in texts),
                              "total_tokens": prompt_tokens + sum(len(t) // 4 for t in texts)},
                })

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @staticmethod
    def embed(text: str) -> list[float]:
        """A deterministic 8-d vector: letter counts folded, enough to tell texts apart."""
        vec = [0.0] * 8
        for ch in text.lower():
            if ch.isalpha():
                vec[ord(ch) % 8] += 1.0
        return vec

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def __enter__(self) -> StubLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _message(choice, request: int, index: int) -> dict:
    """An assistant message from a scripted choice: a text, or a dict with tool calls."""
    if isinstance(choice, str):
        return {"role": "assistant", "content": choice}
    msg = {"role": "assistant", "content": choice.get("content")}
    calls = choice.get("tool_calls") or []
    if calls:
        msg["tool_calls"] = [
            {"id": f"call-{request}-{index}-{k}", "type": "function",
             "function": {"name": c["name"], "arguments": c["arguments"] if isinstance(
                 c["arguments"], str) else json.dumps(c["arguments"])}}
            for k, c in enumerate(calls)]
    return msg
