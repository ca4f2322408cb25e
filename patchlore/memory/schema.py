"""What memory holds: episodes (one repair attempt each) and insights (short general lessons).

Plain dataclasses, serialized as JSON. SCHEMA_VERSION lets later releases migrate a store.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field, fields

SCHEMA_VERSION = 1
VERIFIED, FAILED = "verified", "failed"
ACTIVE, RETIRED = "active", "retired"


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
    created: float = field(default_factory=time.time)
    id: str = ""
    schema: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if isinstance(self.signature, dict):
            self.signature = Signature(**self.signature)
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
    cls = Episode if kind == "episode" else Insight
    known = _FIELDS[cls]
    return cls(**{k: v for k, v in data.items() if k in known})


# looked up once: fields() per record was half the time to open a large store
_FIELDS = {cls: frozenset(f.name for f in fields(cls)) for cls in (Episode, Insight)}
