"""`patchlore model`: start a local vLLM server, and check that a model answers."""

from __future__ import annotations

import typer

app = typer.Typer(help="Serve a model with vLLM, or check that a model answers.",
                  no_args_is_help=True)


@app.command("check")
def check(
    model: str = typer.Option(None, "--model", help="litellm model name (default: setting)."),
    api_base: str = typer.Option(None, "--api-base", help="Model endpoint (default: setting)."),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable result."),
) -> None:
    """Send one short request and report latency, tokens and tokens/s.

    \b
    Example:
      patchlore model check --model hosted_vllm/Qwen/Qwen2.5-Coder-7B-Instruct --api-base http://localhost:8000/v1
    """
    from pathlib import Path

    from patchlore.agent.model import make_model
    from patchlore.cli import ui
    from patchlore.config import load_settings

    settings = load_settings(Path.cwd(), {"model": model, "api_base": api_base})
    llm = make_model(settings.model, settings.api_base, timeout=120)
    with ui.progress(f"asking {settings.model}"):
        reply = llm.complete([{"role": "user", "content":
                               "Write a Python function that returns the sum of a list."}], n=1)
    rate = reply.completion_tokens / reply.seconds if reply.seconds else 0.0
    data = {"model": settings.model, "api_base": settings.api_base,
            "latency_s": round(reply.seconds, 3), "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens, "tokens_per_s": round(rate, 1),
            "answer_chars": len(reply.texts[0])}
    if as_json:
        ui.print_json(data)
    else:
        ui.out().print(f"{settings.model} at {settings.api_base or 'provider'}: "
                       f"{data['latency_s']} s, {reply.completion_tokens} tokens "
                       f"({data['tokens_per_s']} tokens/s)")


@app.command("serve", context_settings={"allow_extra_args": True,
                                        "ignore_unknown_options": True})
def serve(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="Model to serve (a Hugging Face id or a local path)."),
    port: int = typer.Option(8000, "--port", help="Port of the server."),
    wait: float = typer.Option(900, "--wait", help="Seconds to wait for the server to be ready."),
) -> None:
    """Start `vllm serve MODEL` with prefix caching on, wait until it is healthy, and print the
    --model and --api-base to use. Other options are passed to vLLM. Needs vLLM installed
    (pip install 'patchlore[vllm]') and a GPU. Stops the server on Ctrl-C.

    \b
    Example:
      patchlore model serve Qwen/Qwen2.5-Coder-7B-Instruct --max-model-len 16384
    """
    import shutil
    import subprocess
    import time
    import urllib.request

    from patchlore.cli import ui
    from patchlore.errors import PatchloreError

    exe = shutil.which("vllm")
    if not exe:
        raise PatchloreError("vLLM is not installed (no `vllm` command on PATH)",
                             hint="pip install 'patchlore[vllm]' on a machine with a GPU")
    cmd = [exe, "serve", model, "--port", str(port), "--enable-prefix-caching", *ctx.args]
    ui.info("$ " + " ".join(cmd))
    proc = subprocess.Popen(cmd)
    health = f"http://127.0.0.1:{port}/health"
    deadline = time.monotonic() + wait
    try:
        with ui.progress(f"waiting for {health}"):
            while True:
                if proc.poll() is not None:
                    raise PatchloreError(f"vllm exited with code {proc.returncode} before "
                                         "it was ready", hint="see its output above")
                try:
                    with urllib.request.urlopen(health, timeout=2) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise PatchloreError(f"vllm not ready after {wait:.0f} s",
                                         hint="raise --wait for large models")
                time.sleep(1)
        ui.out().print(f"ready: --model hosted_vllm/{model} "
                       f"--api-base http://localhost:{port}/v1")
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
