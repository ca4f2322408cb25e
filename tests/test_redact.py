"""Secret redaction: keys, tokens, URL passwords, private keys; ordinary code survives."""

from pathlib import Path

import pytest

from patchlore.memory.redact import MASK, redact

SECRETS = [
    "sk-proj-abcdefghijklmnopqrstuvwx",
    "sk-ant-api03-abcdefghijklmnopqrstuv",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "AKIAIOSFODNN7EXAMPLE",
    "xoxb-123456789012-abcdefghij",
    "hf_abcdefghijklmnopqrstuvwxyz",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_known_token_shapes(secret):
    out = redact(f"use {secret} here")
    assert secret not in out and MASK in out


@pytest.mark.parametrize("text, gone", [
    ('API_KEY = "abcdef123456"', "abcdef123456"),
    ("db_password: s3cr3t-pass", "s3cr3t-pass"),
    ("PASSWORD=hunter22", "hunter22"),
    ("postgres://app:hunter2hunter@db/x", "hunter2hunter"),
    ("Authorization: Bearer abc.def.ghijklmnop", "abc.def.ghijklmnop"),
    ("my password is correct-horse-battery", "correct-horse-battery"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow"),
])
def test_assignments_urls_and_keys(text, gone):
    assert gone not in redact(text)


def test_code_is_left_alone():
    code = "def total(lines, percent=0.0):\n    return round(amount * (1 - percent / 100), 2)\n"
    assert redact(code) == code
    for line in ("tokenize the input; password_field = form.field",
                 "password = request.form['password']", "token = make_token(user)",
                 "secret_key = settings.SECRET_KEY", "api_key = None", "token = token_value"):
        assert redact(line) == line, line


def test_a_url_password_is_masked_before_the_signature_normalizes_it():
    from patchlore.memory.signature import signature_of

    trace = ("E   ConnectionError: could not connect to "
             "postgres://admin:hunter2hunter@db.local:5432/app (after 3 tries)")
    sig = signature_of({"test_db.py::test_connect": trace})
    assert sig.exc_type == "ConnectionError" and "hunter2hunter" not in sig.message
    assert MASK in sig.message


KEY = "sk-proj-Zx9Qw8Er7Ty6Ui5Op4As3Df2"
TOKEN = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
CONN = {
    "conn.py": "def connect(url):\n    raise ConnectionError(f'could not connect to {url}')\n",
    "test_conn.py": ("from conn import connect\n\n\ndef test_connect():\n"
                     "    assert connect('postgres://admin:hunter2hunter@db.local:5432/app')"
                     " == 'connected'\n"),
}
ANSWER = f"""The key {KEY} is not needed; connect should succeed.

conn.py
<<<<<<< SEARCH
    raise ConnectionError(f'could not connect to {{url}}')
=======
    return 'connected'
>>>>>>> REPLACE
"""


def test_no_secret_from_tests_or_model_reaches_any_file_a_fix_writes(tmp_path):
    """Test output with a URL password, a model answer and a distilled lesson with keys: the
    memory log, chroma's files, the export, the trajectory and result.json hold none of them,
    and the verified patch still prints."""
    import json

    from conftest import make_repo, run_cli
    from stub_llm import StubLLM

    repo = make_repo(tmp_path / "conn", CONN)
    lesson = json.dumps([{"op": "ADD", "text": f"Never log a token like {TOKEN}.",
                          "when": "connections"}])
    with StubLLM([[ANSWER], [lesson]]) as stub:
        res = run_cli("fix", "--repo", str(repo), "--model", "hosted_vllm/stub-coder",
                      "--api-base", stub.api_base, "--sandbox", "local", "--samples", "1",
                      "--memory-mode", "online", "--json",
                      env={"PATCHLORE_TEST_CMD": "python3 -m pytest -q -p no:cacheprovider"},
                      timeout=300)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert "+    return 'connected'" in out["patch"]
    mem = tmp_path / "memory"
    assert run_cli("memory", "export", str(tmp_path / "all.jsonl")).returncode == 0
    written = [p for p in [*mem.rglob("*"), *Path(out["run_dir"]).rglob("*"),
                           tmp_path / "all.jsonl"] if p.is_file()]
    assert {p.name for p in written} >= {"log.jsonl", "chroma.sqlite3", "trajectory.jsonl",
                                         "result.json", "all.jsonl"}
    for p in written:
        data = p.read_bytes()
        for secret in (KEY, TOKEN, "hunter2hunter"):
            assert secret.encode() not in data, (secret, p)
    episodes = [json.loads(ln)["data"] for ln in (mem / "log.jsonl").read_text().splitlines()
                if json.loads(ln)["kind"] == "episode"]
    assert "ConnectionError" == episodes[0]["signature"]["exc_type"]
    assert MASK in (tmp_path / "all.jsonl").read_text()
