"""Failure signatures: the exception type, a normalized message, failing test ids and the top
in-repo frames, so that the same kind of bug in another repo looks alike."""

from __future__ import annotations

import re

from patchlore.memory.redact import redact
from patchlore.memory.schema import Signature

EXC = re.compile(r"^E?\s*(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Warning|Exit|Interrupt)|"
                 r"AssertionError|assert)\b:?\s*(?P<msg>.*)$", re.MULTILINE)
FRAME = re.compile(r"^(?P<path>[\w./-]+\.py):\d+: in (?P<func>\w+)", re.MULTILINE)


def normalize(message: str) -> str:
    """Numbers, hex ids, quoted strings and paths become placeholders."""
    m = re.sub(r"0x[0-9a-fA-F]+", "<hex>", message)
    m = re.sub(r"(['\"]).*?\1", "<str>", m)
    m = re.sub(r"(?:/[\w.-]+)+", "<path>", m)
    m = re.sub(r"\b\d+(?:\.\d+)?\b", "<num>", m)
    return re.sub(r"\s+", " ", m).strip()[:200]


def signature_of(failing: dict[str, str], limit_frames: int = 3) -> Signature:
    """From {test id: short traceback} of the failing tests. Secrets are masked first: the
    normalizing would rewrite a URL's password into a shape masking no longer recognizes."""
    exc_type, message, frames = "", "", []
    for trace in map(redact, failing.values()):
        for m in EXC.finditer(trace):
            exc_type = exc_type or ("AssertionError" if m.group("type") == "assert"
                                    else m.group("type"))
            message = message or normalize(m.group("msg") if m.group("type") != "assert"
                                           else "assert " + m.group("msg"))
        for m in FRAME.finditer(trace):
            frame = f"{m.group('path')}:{m.group('func')}"
            if frame not in frames and not m.group("func").startswith("test"):
                frames.append(frame)
    return Signature(exc_type=exc_type, message=message, failing_tests=sorted(failing),
                     frames=frames[:limit_frames])
