"""Layered configuration: flags > PATCHLORE_* environment > repo file > user file > defaults.

Repo files are `[tool.patchlore]` in the repo's pyproject.toml and the top level of `.patchlore.toml`
(the latter wins). The user file is `config.toml` under the XDG config dir.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from patchlore.errors import ConfigError
from patchlore.sandbox.env.images import PYTHONS

ENV_PREFIX = "PATCHLORE_"
# Docker's grammar of an image reference, [host[:port]/]name[:tag][@digest] (the engine refuses
# anything else with an APIError only once a sandbox starts)
_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
IMAGE_REFERENCE = (rf"(?:{_HOST}(?::[0-9]+)?/)?{_PART}(?:/{_PART})*(?::[\w][\w.-]{{0,127}})?"
                   r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?")


def _user_dir(kind: str) -> Path:
    import platformdirs

    return Path(getattr(platformdirs, f"user_{kind}_dir")("patchlore"))


@dataclass
class Settings:
    """Every setting, with its default. Field metadata holds the help line."""

    model: str = field(
        default="hosted_vllm/mistralai/Devstral-Small-2-24B-Instruct-2512",
        metadata={"help": "litellm model name"},
    )
    agent: str = field(
        default="pipeline",
        metadata={"help": "pipeline (one request for N edits) | explore (a shell loop)"},
    )
    api_base: str = field(
        default="http://localhost:8000/v1",
        metadata={"help": "model endpoint (a vLLM server)", "pattern": r"|https?://[^\s/]+\S*",
                  "what": "an http:// or https:// URL (or empty: the provider's own)",
                  "example": '"http://localhost:8000/v1"'},
    )
    sandbox: str = field(default="auto", metadata={"help": "auto | docker | local"})
    image: str = field(default="patchlore-sandbox:latest",
                       metadata={"help": "sandbox image", "pattern": IMAGE_REFERENCE,
                                 "cased": True,
                                 "what": "a Docker image reference (lowercase, no spaces)",
                                 "example": '"patchlore-sandbox:latest"'})
    workdir: str = field(
        default="",
        metadata={"help": "repo path inside the image; empty copies the repo in at /repo"},
    )
    test_cmd: str = field(default="python3 -m pytest -q",
                          metadata={"help": "test command", "nonblank": True})
    runner: str = field(
        default="auto",
        metadata={"help": "the test runner eval grade uses: auto (from the row's test names and "
                          "the repo's files) | pytest | django | sympy | unittest"},
    )
    setup: bool = field(
        default=True,
        metadata={"help": "install the repo's requirements into a derived sandbox image"},
    )
    setup_cmd: str = field(
        default="",
        metadata={"help": "commands that install them (one per line); empty: guessed"},
    )
    python: str = field(
        default="auto",
        metadata={"help": "the sandbox image's Python: auto (from the repo's metadata and date), "
                          "3.9, 3.11 or 3.13"},
    )
    deps_date: str = field(
        default="",
        metadata={"help": "install dependencies as of this day (YYYY-MM-DD); empty: the row's "
                          "created_at or the commit's date; none: today's",
                  "pattern": r"|none|\d{4}-\d{2}-\d{2}", "what": "a day (YYYY-MM-DD or none)",
                  "example": '"2023-06-01"'},
    )
    timeout: float = field(default=600.0, metadata={"help": "seconds per sandbox command"})
    test_time_limit: float = field(
        default=60.0,
        metadata={"help": "seconds one pytest test may run (pytest-timeout); 0: no limit",
                  "min": 0},
    )
    # Docker refuses a container limit under 6 MiB (an APIError when the sandbox starts)
    mem_limit: str = field(default="2g", metadata={"help": "sandbox memory limit",
                                                   "pattern": r"\d+([kmg]?b?)",
                                                   "what": "a size of 6m or more",
                                                   "example": '"2g" or "512m"'})
    cpus: float = field(default=2.0, metadata={"help": "sandbox CPU limit"})
    pids_limit: int = field(default=512, metadata={"help": "sandbox process limit"})
    network: bool = field(default=False, metadata={"help": "allow network in the sandbox"})
    output_limit: int = field(
        default=1_000_000, metadata={"help": "bytes of stdout/stderr kept per command"}
    )
    memory_dir: str = field(
        default_factory=lambda: str(_user_dir("data") / "memory"),
        metadata={"help": "memory store directory", "flag": "--memory"},
    )
    memory_url: str = field(default="", metadata={"help": "shared chroma server URL"})
    memory_mode: str = field(default="online", metadata={"help": "off | read | online"})
    localize: str = field(
        default="search",
        metadata={"help": "search | model (one more request: the model names the files and "
                          "functions to show)"},
    )
    sources: dict[str, str] = field(default_factory=dict, repr=False, compare=False)


CHOICES = {"sandbox": ("auto", "docker", "local"), "agent": ("pipeline", "explore"),
           "localize": ("search", "model"), "memory_mode": ("off", "read", "online"),
           "python": ("auto", *PYTHONS),
           "runner": ("auto", "pytest", "django", "sympy", "unittest")}  # sandbox/runners
SETTING_NAMES = tuple(f.name for f in fields(Settings) if f.name != "sources")
_FIELDS = {f.name: f for f in fields(Settings)}


def flag_of(name: str) -> str:
    """The command-line flag that sets `name`, for messages."""
    return _FIELDS[name].metadata.get("flag", "--" + name.replace("_", "-"))


def _coerce(name: str, value: Any, origin: str) -> Any:
    """`value` as the setting's type, within its allowed values; else an error naming where it
    came from (a file, an environment variable, a flag) and the setting."""
    value = _as_type(name, value, origin)
    meta = _FIELDS[name].metadata
    where = f"{origin}: {name} = {value!r}"
    allowed = CHOICES.get(name)
    if allowed and value not in allowed:
        close = difflib.get_close_matches(str(value), allowed, n=1)
        raise ConfigError(f"{where} is not one of {', '.join(allowed)}",
                          hint=f"did you mean {close[0]!r}?" if close else
                          f"set {name} to one of them")
    if "pattern" in meta and not (re.fullmatch(meta["pattern"], value.strip() if meta.get(
            "cased") else value.strip().lower())
                                  and _at_least_6m(name, value)):
        raise ConfigError(f"{where} is not {meta['what']}",
                          hint=f"e.g. {name} = {meta['example']}")
    if meta.get("nonblank") and not value.strip():
        raise ConfigError(f"{where} is empty: nothing would run, so nothing would be checked",
                          hint=f"give {flag_of(name)} the command that runs the tests")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low = meta.get("min")  # numbers are positive unless a field says 0 is allowed
        if not math.isfinite(value) or (value < low if low is not None else value <= 0):
            raise ConfigError(f"{where} must be a positive number" if low is None else
                              f"{where} must be {low} or more",
                              hint=f"e.g. {name} = {_FIELDS[name].default!r}")
    return value


def _at_least_6m(name: str, value: str) -> bool:
    if name != "mem_limit":
        return True
    number, unit = re.fullmatch(r"(\d+)([kmg]?)b?", value.strip().lower()).groups()
    return int(number) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[unit] >= 6 * 2**20


def _as_type(name: str, value: Any, origin: str) -> Any:
    kind = _FIELDS[name].type
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ValueError(value)
        return str(value)
    except ValueError:
        raise ConfigError(
            f"{origin}: {name} = {value!r} is not a valid {kind}",
            hint=f"set {name} to a {kind}",
        ) from None


def _check_keys(table: dict[str, Any], origin: str) -> dict[str, Any]:
    out = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in SETTING_NAMES:
            close = difflib.get_close_matches(name, SETTING_NAMES, n=1)
            raise ConfigError(
                f"{origin}: unknown setting {key!r}",
                hint=f"did you mean {close[0]!r}?" if close else "see `patchlore config show`",
            )
        out[name] = _coerce(name, value, origin)
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})", hint="fix the file's syntax") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid TOML (not UTF-8 text)",
                          hint="save the file as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None


def user_config_path() -> Path:
    return _user_dir("config") / "config.toml"


def _file_layers(repo: Path | None) -> list[tuple[str, dict[str, Any]]]:
    """(origin, values) from lowest to highest precedence."""
    layers = []
    user = user_config_path()
    if user.is_file():
        layers.append((str(user), _check_keys(_read_toml(user), str(user))))
    if repo is not None:
        pyproject = repo / "pyproject.toml"
        if pyproject.is_file():
            table = _read_toml(pyproject).get("tool", {}).get("patchlore", {})
            if table:
                origin = f"{pyproject} [tool.patchlore]"
                layers.append((origin, _check_keys(table, origin)))
        dotfile = repo / ".patchlore.toml"
        if dotfile.is_file():
            layers.append((str(dotfile), _check_keys(_read_toml(dotfile), str(dotfile))))
    return layers


def load_settings(repo: Path | None = None, flags: dict[str, Any] | None = None) -> Settings:
    """The effective settings for `repo`; `flags` holds values given on the command line."""
    settings = Settings()
    settings.sources = {name: "default" for name in SETTING_NAMES}
    layers = _file_layers(repo)
    env = {
        name: os.environ[ENV_PREFIX + name.upper()]
        for name in SETTING_NAMES
        if ENV_PREFIX + name.upper() in os.environ
    }
    layers.append(
        ("environment", {k: _coerce(k, v, f"${ENV_PREFIX}{k.upper()}") for k, v in env.items()})
    )
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    layers.append(("flag", {k: _coerce(k, v, flag_of(k)) for k, v in given.items()}))
    for origin, values in layers:
        for name, value in values.items():
            setattr(settings, name, value)
            settings.sources[name] = origin
    return settings
