"""Secret redaction: keys, tokens, URL passwords, private keys; ordinary code survives."""

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
