"""`patchlore model`: start a local vLLM server, and check that a model answers."""

from __future__ import annotations

import typer

from patchlore.cli import options

app = typer.Typer(help="Serve a model with vLLM, or check that a model answers.",
                  no_args_is_help=True)

# Open models that fit one or two GPUs, with the vLLM flags their tool calls need. The agentic
# ones were trained in shell-loop scaffolds: use them with `--agent explore`. The context is
# capped well below their native length (256k and more) so the KV cache fits beside the weights;
# raise --max-model-len where memory allows (explorations mostly stay under 20k tokens).
PRESETS = {
    "devstral-small-2": {
        "model": "mistralai/Devstral-Small-2-24B-Instruct-2512",
        "flags": ["--enable-auto-tool-choice", "--tool-call-parser", "mistral",
                  "--max-model-len", "65536"],
        "fits": "one GPU with 40 GB or more (FP8 weights, 25 GB)", "agent": "explore"},
    "qwen3-coder-30b": {
        "model": "Qwen/Qwen3-Coder-30B-A3B-Instruct-FP8",
        "flags": ["--enable-auto-tool-choice", "--tool-call-parser", "qwen3_coder",
                  "--max-model-len", "65536"],
        "fits": "one GPU with 48 GB or more (FP8 weights, 31 GB; 3B active: fast)",
        "agent": "explore"},
    "glm-4.7-flash": {
        "model": "zai-org/GLM-4.7-Flash",
        "flags": ["--enable-auto-tool-choice", "--tool-call-parser", "glm47",
                  "--reasoning-parser", "glm45", "--max-model-len", "65536"],
        "fits": "two GPUs with 48 GB (add --tensor-parallel-size 2) or one with 80 GB "
                "(BF16 weights, 60 GB)", "agent": "explore"},
    "qwen2.5-coder-7b": {
        "model": "Qwen/Qwen2.5-Coder-7B-Instruct",
        "flags": ["--enable-auto-tool-choice", "--tool-call-parser", "hermes",
                  "--max-model-len", "32768"],
        "fits": "one GPU with 24 GB (BF16 weights, 15 GB)", "agent": "pipeline"},
}


@app.command("presets")
def presets(as_json: bool = typer.Option(False, "--json", help="Print machine-readable.")) -> None:
    """List the models `model serve` knows by a short name, with their vLLM flags.

    \b
    Example:
      patchlore model serve devstral-small-2
    """
    from patchlore.cli import ui

    if as_json:
        ui.print_json(PRESETS)
        return
    from rich.table import Table

    table = Table(title="patchlore model serve NAME", title_justify="left")
    for col in ("name", "model", "vLLM flags", "fits", "agent"):
        table.add_column(col)
    for name, p in PRESETS.items():
        table.add_row(name, p["model"], " ".join(p["flags"]), p["fits"], p["agent"])
    ui.out().print(table)


@app.command("check")
def check(
    model: str = options.setting("model"),
    api_base: str = options.setting("api_base"),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable result."),
) -> None:
    """Send one short request and report latency, tokens and tokens/s.

    \b
    Example:
      patchlore model check --model hosted_vllm/mistralai/Devstral-Small-2-24B-Instruct-2512 --api-base http://localhost:8000/v1
    """
    from pathlib import Path

    from patchlore.llm.model import make_model
    from patchlore.cli import ui

    settings = options.load_settings(Path.cwd())
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
    model: str = typer.Argument(..., help="A preset name (`model presets`), a Hugging Face id "
                                "or a local path."),
    port: int = typer.Option(8000, "--port", help="Port of the server."),
    wait: float = typer.Option(900, "--wait", help="Seconds to wait for the server to be ready."),
) -> None:
    """Start `vllm serve MODEL` with prefix caching on, wait until it is healthy, and print the
    --model and --api-base to use. A preset name adds the model's tool-call parser and context
    flags. Other options are passed to vLLM (after the preset's, so they win). Needs vLLM
    installed (pip install 'patchlore[vllm]') and a GPU. Stops the server on Ctrl-C.

    \b
    Examples:
      patchlore model serve devstral-small-2
      patchlore model serve glm-4.7-flash --tensor-parallel-size 2
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
    preset = PRESETS.get(model, {})
    model = preset.get("model", model)
    cmd = [exe, "serve", model, "--port", str(port), "--enable-prefix-caching",
           *preset.get("flags", []), *ctx.args]
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
                       f"--api-base http://localhost:{port}/v1"
                       + (f" --agent {preset['agent']}" if preset else ""))
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
