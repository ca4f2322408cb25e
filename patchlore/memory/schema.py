"""What memory holds: episodes (one repair attempt each) and insights (short general lessons).

Plain dataclasses, serialized as JSON. SCHEMA_VERSION lets later releases migrate a store.
"""

from __future__ import annotations

import hashlib
import math
import time
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields

SCHEMA_VERSION = 1
VERIFIED, FAILED = "verified", "failed"
ACTIVE, RETIRED = "active", "retired"
PRACTICE = "practice"  # the source of episodes `patchlore practice` made from mutants


@dataclass
class Signature:
    """How a failure looks, normalized so the same bug elsewhere looks the same."""

    exc_type: str = ""
    message: str = ""
    failing_tests: list[str] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)  # top in-repo frames, "path:function"

    def text(self) -> str:
        return " ".join([self.exc_type, self.message, *self.failing_tests, *self.frames])


@dataclass
class Episode:
    repo: str
    task: str  # issue text, or a summary of the failure
    signature: Signature
    diff: str  # the verified fix, or the best failed attempt
    outcome: str  # VERIFIED only when the sandbox verified it
    reason: str = ""  # why it failed
    language: str = "python"
    files: list[str] = field(default_factory=list)
    tests_run: int = 0
    model: str = ""
    source: str = "fix"
    trajectory: str = ""
    insights_shown: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # an exploration's commands that mattered
    created: float = field(default_factory=time.time)
    id: str = ""
    schema: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if isinstance(self.signature, dict):
            self.signature = _build(Signature, self.signature)
        if not self.id:
            key = f"{self.repo}\0{self.task}\0{self.diff}\0{self.outcome}\0{self.created}"
            self.id = "ep-" + hashlib.sha256(key.encode()).hexdigest()[:12]

    def text(self) -> str:
        """What retrieval matches on: the task and the failure signature."""
        return f"{self.task}\n{self.signature.text()}"


@dataclass
class Insight:
    text: str  # "when X, check Y"
    when: str = ""  # when it applies
    supports: list[str] = field(default_factory=list)  # episode ids
    helpful: int = 0  # shown in a prompt whose attempt was verified
    harmful: int = 0  # shown in a prompt whose attempt failed
    status: str = ACTIVE
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    id: str = ""
    schema: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not self.id:
            self.id = "in-" + hashlib.sha256(
                f"{self.text}\0{self.created}".encode()).hexdigest()[:12]

    @property
    def credit(self) -> int:
        """ExpeL-style: a new insight starts at 2; it retires when this reaches 0."""
        return 2 + self.helpful - self.harmful

    def text_for_search(self) -> str:
        return f"{self.text}\n{self.when}"


def kind_of(record: Episode | Insight) -> str:
    return "episode" if isinstance(record, Episode) else "insight"


def to_dict(record: Episode | Insight) -> dict:
    return asdict(record)


def from_dict(kind: str, data: dict) -> Episode | Insight:
    return _build(Episode if kind == "episode" else Insight, data)


def _build(cls, data: dict):
    known = _FIELDS[cls]  # fields a newer release added are dropped, not an error
    return cls(**{k: v for k, v in data.items() if k in known})


def problem(kind: object, data: object) -> str:
    """What is wrong with a record read from outside (a log line, an import), or "". A record
    with a wrong type would load, then crash whatever uses it later."""
    if kind not in ("episode", "insight"):
        return f"kind {kind!r} is not episode or insight"
    return _problem(Episode if kind == "episode" else Insight, data)


def _problem(cls, data: object) -> str:
    if not isinstance(data, dict):
        return f"{cls.__name__.lower()} is {type(data).__name__}, not an object"
    for name, (check, required) in _CHECKS[cls].items():
        if name not in data:
            if required:
                return f"{name} is missing"
            continue
        value = data[name]
        if isinstance(check, tuple):
            if value not in check:
                return f"{name} is {value!r}, not one of {', '.join(check)}"
        elif check is Signature:
            inner = _problem(Signature, value)
            if inner:
                return f"signature: {inner}"
        elif not check(value):
            return f"{name} is {type(value).__name__} {_short(value)}, not {_TYPE_NAMES[check]}"
    return ""


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_str(v: object) -> bool:
    return isinstance(v, str)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_str_list(v: object) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


_BY_TYPE = {str: _is_str, int: _is_int, float: _is_number, list[str]: _is_str_list}
_TYPE_NAMES = {_is_str: "a string", _is_int: "an integer", _is_number: "a number",
               _is_str_list: "a list of strings"}
CHOICES = {"outcome": (VERIFIED, FAILED), "status": (ACTIVE, RETIRED)}


def _checks(cls) -> dict:
    """field -> (a check, or the allowed values, or a nested dataclass; required?)"""
    hints = typing.get_type_hints(cls)
    return {f.name: (CHOICES.get(f.name) or _BY_TYPE.get(hints[f.name], hints[f.name]),
                     f.default is MISSING and f.default_factory is MISSING)
            for f in fields(cls)}


# looked up once: fields() per record was half the time to open a large store
_FIELDS = {cls: frozenset(f.name for f in fields(cls)) for cls in (Episode, Insight, Signature)}
_CHECKS = {cls: _checks(cls) for cls in (Episode, Insight, Signature)}
