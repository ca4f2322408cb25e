"""`patchlore model check` over real HTTP; `model serve`'s orchestration with a stand-in vLLM.

vLLM needs a GPU, which these machines do not have: the serve test puts a small `vllm` script on
PATH that answers /health like the real server, so the start, wait, print and stop logic runs
for real.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

from conftest import run_cli
from stub_llm import StubLLM


def test_check_reports_latency_and_tokens():
    with StubLLM([["def total(xs):\n    return sum(xs)\n" * 4]]) as stub:
        res = run_cli("model", "check", "--model", "hosted_vllm/stub-coder",
                      "--api-base", stub.api_base, "--json")
        assert len(stub.requests) == 1
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["completion_tokens"] > 0 and data["latency_s"] > 0 and data["tokens_per_s"] > 0


def test_check_dead_server_is_a_clear_error():
    res = run_cli("model", "check", "--model", "hosted_vllm/x", "--api-base",
                  "http://127.0.0.1:9/v1")
    assert res.returncode == 2 and "not reachable" in res.stderr
    assert "Traceback" not in res.stderr


def test_serve_without_vllm(tmp_path):
    res = run_cli("model", "serve", "some/model", env={"PATH": str(tmp_path)})
    assert res.returncode == 2 and "vLLM is not installed" in res.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(tmp_path, *args: str) -> tuple[str, str]:
    """`model serve ARGS` against a stand-in vllm: the ready line and vllm's arguments."""
    fake = tmp_path / "vllm"
    fake.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import sys, http.server
        args = sys.argv[1:]
        assert args[0] == "serve" and "--enable-prefix-caching" in args, args
        port = int(args[args.index("--port") + 1])
        open({str(tmp_path / "args.txt")!r}, "w").write(" ".join(args))
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200 if self.path == "/health" else 404)
                self.end_headers()
            def log_message(self, *a):
                pass
        http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
        """))
    fake.chmod(0o755)
    port = free_port()
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "patchlore", "model", "serve", *args,
                             "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        vllm_args = (tmp_path / "args.txt").read_text()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    with socket.socket() as s:  # the server is gone with it
        assert s.connect_ex(("127.0.0.1", port)) != 0
    return line.replace(str(port), "PORT"), vllm_args


def test_serve_waits_for_health_prints_flags_and_stops_the_server(tmp_path):
    line, args = serve(tmp_path, "org/coder-7b", "--max-model-len", "4096")
    assert line == "ready: --model hosted_vllm/org/coder-7b --api-base http://localhost:PORT/v1"
    assert "--max-model-len 4096" in args


def test_serve_a_preset_adds_its_tool_parser_and_the_users_flags_win(tmp_path):
    line, args = serve(tmp_path, "glm-4.7-flash", "--max-model-len", "32768")
    assert line == ("ready: --model hosted_vllm/zai-org/GLM-4.7-Flash "
                    "--api-base http://localhost:PORT/v1 --agent explore")
    assert args.startswith("serve zai-org/GLM-4.7-Flash ")
    assert "--enable-auto-tool-choice --tool-call-parser glm47 --reasoning-parser glm45" in args
    # vLLM takes the last of a repeated flag: the user's, after the preset's
    assert args.index("--max-model-len 65536") < args.index("--max-model-len 32768")


def test_presets_list_every_model_with_a_tool_parser():
    res = run_cli("model", "presets", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert {"devstral-small-2", "qwen3-coder-30b", "glm-4.7-flash"} <= set(data)
    assert all("--tool-call-parser" in p["flags"] for p in data.values())
