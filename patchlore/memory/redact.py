"""Secrets never reach the store: keys, tokens, passwords in URLs and private keys are masked
before anything is written."""

from __future__ import annotations

import re

MASK = "[REDACTED]"
PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"\b(?:sk|pk|rk)-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}"),  # OpenAI/Anthropic style
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),  # AWS access key id
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),  # Hugging Face
    re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"),  # Google
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{12,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JWT
]
# key = value, keeping the key so the text still reads
ASSIGNED = re.compile(
    r"(?i)\b([A-Za-z0-9_]*(?:api[_-]?key|secret|token|passw(?:or)?d|pwd|credential)[A-Za-z0-9_]*"
    r"[\"']?\s*[:=]\s*)([\"']?)([^\s\"',;]{6,})")
# attribute access, a call or an index, or a plain word without digits: code, not a secret
CODE_VALUE = re.compile(r"[A-Za-z_]\w*(?:\.\w+)+(?:[(\[].*)?|[A-Za-z_]\w*[(\[].*|[A-Za-z_]+")


def _assigned(m: re.Match) -> str:
    key, quote, value = m.groups()
    if value == MASK or (not quote and CODE_VALUE.fullmatch(value)):
        return m.group(0)  # `password = form.password` is code, not a secret
    return key + quote + MASK


# "my password is hunter22": the word after, in prose
SPOKEN = re.compile(r"(?i)\b((?:pass(?:word|wd|phrase)?|pwd|secret|token|api[ _-]?key)\s+"
                    r"(?:is\s+|was\s+)?)([^\s,;'\"]{8,})")
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)(@)")


def redact(text: str) -> str:
    if not text:
        return text
    for pattern in PATTERNS:
        text = pattern.sub(MASK, text)
    text = URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    text = SPOKEN.sub(lambda m: m.group(1) + (m.group(2) if m.group(2) == MASK else MASK), text)
    return ASSIGNED.sub(_assigned, text)


def redact_data(value):
    """Every string inside a JSON-like value, redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_data(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    return value
