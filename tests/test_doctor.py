"""`patchlore doctor` against a real (stub) model endpoint on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import IMAGE, run_cli


class Models(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path != "/v1/models":
            self.send_error(404)
            return
        body = json.dumps({"object": "list", "data": [{"id": "tiny-coder"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def model_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def doctor(tmp_path, **env):
    res = run_cli("doctor", "--json", "--repo", str(tmp_path),
                  env={"PATCHLORE_MEMORY_DIR": str(tmp_path / "mem"), **env})
    return res.returncode, {c["name"]: c for c in json.loads(res.stdout)["checks"]}


def test_all_green(tmp_path, model_server, docker_ready):
    code, checks = doctor(tmp_path, PATCHLORE_API_BASE=model_server,
                          PATCHLORE_MODEL="hosted_vllm/tiny-coder")
    assert code == 0, checks
    assert {c["status"] for c in checks.values()} == {"ok"}
    assert "tiny-coder" in checks["model"]["detail"]
    assert IMAGE in checks["image"]["detail"]


def test_wrong_model_name_is_a_warning_with_the_fix(tmp_path, model_server, docker_ready):
    code, checks = doctor(tmp_path, PATCHLORE_API_BASE=model_server,
                          PATCHLORE_MODEL="hosted_vllm/other")
    assert code == 0
    assert checks["model"]["status"] == "warn"
    assert checks["model"]["fix"] == "set model to hosted_vllm/tiny-coder"


def test_failures_each_have_a_fix(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    code, checks = doctor(tmp_path, PATCHLORE_API_BASE="http://127.0.0.1:9/v1",
                          DOCKER_HOST="unix:///nonexistent/docker.sock",
                          PATCHLORE_MEMORY_DIR=str(blocked / "mem"),
                          PATCHLORE_IMAGE="patchlore-no-such:0")
    assert code == 1
    for name in ("docker", "image", "model", "memory"):
        assert checks[name]["status"] == "fail" and checks[name]["fix"], checks[name]
    assert checks["git"]["status"] == "ok"


def test_table_output(tmp_path):
    """The table holds every check of --json, in order, each cell in its column."""
    env = {"PATCHLORE_API_BASE": "http://127.0.0.1:9/v1", "COLUMNS": "400"}  # no cell folds
    res = run_cli("doctor", "--repo", str(tmp_path), env=env)
    assert res.returncode == 1
    as_json = run_cli("doctor", "--json", "--repo", str(tmp_path), env=env)
    checks = json.loads(as_json.stdout)["checks"]
    rows = [[cell.strip() for cell in line.strip("│").split("│")]
            for line in res.stdout.splitlines() if line.startswith("│")]
    assert rows == [[c["name"], c["status"], c["detail"], c["fix"]] for c in checks]
    assert ["model", "fail"] in [r[:2] for r in rows]
