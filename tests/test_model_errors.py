"""The model layer's answers to a server that says no, over real HTTP; an embeddings endpoint
as the memory's embedder; --apply refusing a tree that moved."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CALC, FIX, make_repo
from patchlore.llm.model import LitellmModel, ModelError
from patchlore.errors import PatchloreError
from stub_llm import StubLLM


def test_unknown_model_is_named():
    with StubLLM([404]) as stub:
        model = LitellmModel("hosted_vllm/no-such-model", api_base=stub.api_base, retries=0)
        with pytest.raises(ModelError) as info:
            model.complete([{"role": "user", "content": "hi"}])
    assert "no-such-model" in info.value.message and "unknown" in info.value.message


def test_transient_errors_are_retried():
    with StubLLM([503, 500, ["fine"]]) as stub:
        model = LitellmModel("hosted_vllm/stub-coder", api_base=stub.api_base, backoff=0.01)
        reply = model.complete([{"role": "user", "content": "hi"}])
        assert reply.texts == ["fine"] and len(stub.requests) == 3


def test_embeddings_endpoint_as_the_memory_embedder(tmp_path):
    from patchlore.memory.embed import make_embedder
    from patchlore.memory.schema import VERIFIED, Episode, Signature
    from patchlore.memory.store import MemoryStore

    with StubLLM() as stub:
        embedder = make_embedder(f"litellm:hosted_vllm/embedder@{stub.api_base}")
        store = MemoryStore(tmp_path / "m", embedder=embedder)
        eps = [Episode(repo="r", task=t, signature=Signature(), diff="+x\n", outcome=VERIFIED)
               for t in ("zzzz zebra", "aaaa apple")]
        store.put_many(eps)
        hit = store.vector_search("episode", "zebra zzz", 1)[0][0]
        assert hit == eps[0].id
        assert any("input" in r for r in stub.requests)


def test_apply_refuses_when_the_file_changed_since_the_snapshot(tmp_path):
    from patchlore.repair.session import apply_to_worktree
    from patchlore.sandbox.snapshot import take_snapshot

    repo = make_repo(tmp_path / "calc", CALC)
    snap = take_snapshot(repo)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "patch.diff").write_text(FIX)
    (repo / "calc.py").write_text((repo / "calc.py").read_text() + "# edited meanwhile\n")
    with pytest.raises(PatchloreError, match="calc.py changed since the run started"):
        apply_to_worktree(snap, FIX, tmp_path / "run")
    assert "edited meanwhile" in (repo / "calc.py").read_text()
    assert not (tmp_path / "run" / "backup").exists()


def test_importing_litellm_loads_no_dotenv_file(tmp_path):
    """litellm's DEV mode loads a `.env` found by walking up from its own package directory;
    one there would pour its variables into our environment (and on into local sandboxes)."""
    import importlib.util

    site = Path(importlib.util.find_spec("litellm").origin).parent.parent
    dotenv = site / ".env"
    assert not dotenv.exists()
    dotenv.write_text("PATCHLORE_DOTENV_CANARY=leaked\n")
    probe = tmp_path / "probe.py"  # a file, not -c: dotenv then searches from litellm's dir
    probe.write_text("import os, sys\n"
                     "if sys.argv[1] == 'plain':\n    import litellm\n"
                     "else:\n    from patchlore.llm.litellm_import import import_litellm\n"
                     "    import_litellm()\n"
                     "print(os.environ.get('PATCHLORE_DOTENV_CANARY'))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LITELLM_")}
    try:
        seen = {how: subprocess.run([sys.executable, str(probe), how], capture_output=True,
                                    text=True, env={**env, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
                                    timeout=120).stdout.strip()
                for how in ("plain", "patchlore")}
    finally:
        dotenv.unlink()
    assert seen == {"plain": "leaked", "patchlore": "None"}


def test_a_server_that_refuses_connections_is_tried_twice_not_four_times(monkeypatch):
    """Refused is down, not busy: one retry; litellm calls it an InternalServerError, so only
    the socket error down its cause chain tells the two apart. The attempts are counted (they
    were timed: a loaded machine's slow first request broke the bound)."""
    import socket

    import litellm

    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    attempts, real = [], litellm.completion
    monkeypatch.setattr(litellm, "completion",
                        lambda **kw: attempts.append(kw["api_base"]) or real(**kw))
    model = LitellmModel("hosted_vllm/stub-coder", api_base=f"http://127.0.0.1:{port}/v1",
                         backoff=0.01)
    with pytest.raises(ModelError, match="not reachable"):
        model.complete([{"role": "user", "content": "hi"}])
    assert len(attempts) == 2  # a busy server's error would be tried 1 + 3 times


def test_errors_that_are_not_transient_are_not_retried():
    with StubLLM([401, ["never reached"]]) as stub:
        model = LitellmModel("hosted_vllm/stub-coder", api_base=stub.api_base, backoff=0.01)
        with pytest.raises(ModelError, match="refused the credentials"):
            model.complete([{"role": "user", "content": "hi"}])
        assert len(stub.requests) == 1


def test_a_reply_with_no_choices_is_a_clear_error():
    empty = {"id": "x", "object": "chat.completion", "created": 1, "model": "stub-coder",
             "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 0,
                                      "total_tokens": 1}}
    with StubLLM([empty]) as stub:
        model = LitellmModel("hosted_vllm/stub-coder", api_base=stub.api_base, retries=0)
        with pytest.raises(ModelError, match="answered with no choices"):
            model.complete([{"role": "user", "content": "hi"}])
