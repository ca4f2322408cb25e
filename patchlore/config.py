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
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from patchlore.errors import ConfigError

ENV_PREFIX = "PATCHLORE_"
# Docker's grammar of an image reference, [host[:port]/]name[:tag][@digest] (the engine refuses
# anything else with an APIError only once a sandbox starts)
_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
IMAGE_REFERENCE = (rf"(?:{_HOST}(?::[0-9]+)?/)?{_PART}(?:/{_PART})*(?::[\w][\w.-]{{0,127}})?"
                   r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?")

# The sandbox images' Pythons, each Debian's own python3 of that release (sandbox/env/images
# builds them); here, below the sandbox, because the `python` setting's choices are these.
PYTHONS = {"3.9": "bullseye", "3.11": "bookworm", "3.13": "trixie"}


# why a setting has no flag (each is read from the files and $PATCHLORE_* like any other)
REPO_ENV = "how the repo's environment is built: a property of the repo, set in its .patchlore.toml"
LIMIT = "a limit of every sandbox: the machine's policy, set in a config file or the environment"


def _user_dir(kind: str) -> Path:
    import platformdirs

    return Path(getattr(platformdirs, f"user_{kind}_dir")("patchlore"))


@dataclass
class Settings:
    """Every setting, with its default. Field metadata holds what the flag, the environment
    variable and the README's table are made from (cli/options.py, `settings_table`): the
    help line; `flag` when it is not --NAME; `short`; `min`/`max`; `alias`, an old name still
    read as a file key, a $PATCHLORE_ variable and a flag; `old_flags`, an old flag per
    command; `no_flag`, why a setting has no flag (it is then set in a file or the
    environment)."""

    model: str = field(
        default="hosted_vllm/mistralai/Devstral-Small-2-24B-Instruct-2512",
        metadata={"help": "litellm model name"},
    )
    agent: str = field(
        default="pipeline",
        metadata={"help": "pipeline (one request for N SEARCH/REPLACE answers) | explore (N "
                          "explorations, each in its own sandbox's shell)"},
    )
    api_base: str = field(
        default="http://localhost:8000/v1",
        metadata={"help": "model endpoint (a vLLM server)", "pattern": r"|https?://[^\s/]+\S*",
                  "what": "an http:// or https:// URL (or empty: the provider's own)",
                  "example": '"http://localhost:8000/v1"'},
    )
    sandbox: str = field(default="auto", metadata={
        "help": "auto (Docker if an engine answers, else local with a warning) | docker | local"})
    image: str = field(default="patchlore-sandbox:latest",
                       metadata={"help": "sandbox image", "pattern": IMAGE_REFERENCE,
                                 "cased": True,
                                 "what": "a Docker image reference (lowercase, no spaces)",
                                 "example": '"patchlore-sandbox:latest"'})
    workdir: str = field(
        default="",
        metadata={"help": "the repo's path inside the image (SWE-bench's /testbed): the repo "
                          "is then used from the image, not copied in; empty: copied in at "
                          "/repo (eval with an image template: /testbed)"},
    )
    test_cmd: str = field(default="python3 -m pytest -q",
                          metadata={"help": "test command", "nonblank": True})
    runner: str = field(
        default="auto",
        metadata={"help": "the test runner eval grade uses, and fix and eval run when no test "
                          "command is chosen: auto (from the row's test names and the repo's "
                          "files) | pytest | django | sympy | unittest"},
    )
    setup: bool = field(
        default=True,
        metadata={"help": "install the repo's requirements into a derived sandbox image"},
    )
    setup_cmd: str = field(
        default="",
        metadata={"help": "the commands that install them, one per line; empty: guessed from "
                          "the repo's files", "no_flag": REPO_ENV},
    )
    python: str = field(
        default="auto",
        metadata={"help": "the sandbox image's Python: auto (from the repo's metadata and date), "
                          "3.9, 3.11 or 3.13", "no_flag": REPO_ENV},
    )
    deps_date: str = field(
        default="",
        metadata={"help": "install dependencies as of this day (YYYY-MM-DD); empty: the row's "
                          "created_at or the commit's date; none: today's",
                  "pattern": r"|none|\d{4}-\d{2}-\d{2}", "what": "a day (YYYY-MM-DD or none)",
                  "example": '"2023-06-01"', "no_flag": REPO_ENV},
    )
    command_timeout: float = field(
        default=600.0,
        metadata={"help": "seconds one sandbox command may run (a test run, an install, an "
                          "explore step); a model request waits at most as long",
                  "alias": "timeout", "old_flags": {"sandbox exec": "--timeout",
                                                   "eval grade": "--timeout"}},
    )
    deadline: float | None = field(
        default=None,
        metadata={"help": "seconds the whole run may take, test runs and model requests "
                          "included; unset: none (check: 300)",
                  "old_flags": {"fix": "--timeout", "check": "--budget",
                                "practice": "--budget"}},
    )
    samples: int = field(
        default=4,
        metadata={"help": "candidates per round: one request for N answers (with agent "
                          "explore: N explorations)", "short": "-n", "min": 1, "max": 32},
    )
    rounds: int = field(default=2, metadata={"help": "feedback rounds at most",
                                             "min": 1, "max": 10})
    max_steps: int = field(
        default=40, metadata={"help": "with agent explore: model replies per exploration and "
                                      "round", "min": 1},
    )
    context_budget: int = field(
        default=6000,
        metadata={"help": "tokens of code shown to the model (4 characters each)",
                  "min": 100, "max": 1_000_000, "old_flags": {"localize": "--budget"}},
    )
    test_time_limit: float = field(
        default=60.0,
        metadata={"help": "seconds one pytest test may run before pytest-timeout fails it (the "
                          "others go on); 0: no limit", "min": 0, "no_flag": LIMIT},
    )
    # Docker refuses a container limit under 6 MiB (an APIError when the sandbox starts)
    mem_limit: str = field(default="2g", metadata={"help": "sandbox memory limit",
                                                   "pattern": r"\d+([kmg]?b?)",
                                                   "what": "a size of 6m or more",
                                                   "example": '"2g" or "512m"',
                                                   "no_flag": LIMIT})
    cpus: float = field(default=2.0, metadata={"help": "sandbox CPU limit", "no_flag": LIMIT})
    pids_limit: int = field(default=512, metadata={"help": "sandbox process limit",
                                                   "no_flag": LIMIT})
    network: bool = field(default=False, metadata={"help": "allow network in the sandbox"})
    output_limit: int = field(
        default=1_000_000, metadata={"help": "bytes of stdout/stderr kept per command (head "
                                             "and tail)", "no_flag": LIMIT}
    )
    memory_dir: str = field(
        default_factory=lambda: str(_user_dir("data") / "memory"),
        metadata={"help": "memory store directory", "flag": "--memory",
                  "default_doc": "memory/ under the user data dir"},
    )
    memory_url: str = field(default="", metadata={
        "help": "a shared `chroma run` server, e.g. http://127.0.0.1:8000 (instead of the "
                "directory)"})
    memory_mode: str = field(default="online", metadata={
        "help": "off | read (recall only) | online (recall and learn)"})
    embedder: str = field(
        default="hash",
        metadata={"help": "what memory embeds with: hash (no download) | st:PATH (a local "
                          "sentence-transformers model) | litellm:MODEL[@URL] (an embeddings "
                          "endpoint, e.g. a vLLM server's)",
                  "pattern": r"hash|st:\S+|litellm:\S+", "cased": True,
                  "what": "hash, st:PATH or litellm:MODEL[@URL]", "example": '"hash"',
                  "no_flag": "the store's own: its index is made with it, so a store keeps one "
                             "(set it in a config file or the environment)"},
    )
    localize: str = field(
        default="search",
        metadata={"help": "search | model (one more request: the model names the files and "
                          "functions to show)"},
    )
    sources: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def timeout(self) -> float:
        """The old name of command_timeout (before the run's deadline was a setting too)."""
        return self.command_timeout


CHOICES = {"sandbox": ("auto", "docker", "local"), "agent": ("pipeline", "explore"),
           "localize": ("search", "model"), "memory_mode": ("off", "read", "online"),
           "python": ("auto", *PYTHONS),
           "runner": ("auto", "pytest", "django", "sympy", "unittest")}  # sandbox/runners
SETTING_NAMES = tuple(f.name for f in fields(Settings) if f.name != "sources")
_FIELDS = {f.name: f for f in fields(Settings)}
# name: (metadata, default, type), what a flag and the docs are made of; a default computed
# when the settings load (a directory under the user's home) is None here
SETTINGS_META = {f.name: (f.metadata, None if f.default is MISSING else f.default,
                          f.type.removesuffix(" | None")) for f in fields(Settings)
                 if f.name != "sources"}
ALIASES = {f.metadata["alias"]: f.name for f in fields(Settings) if "alias" in f.metadata}
_KNOWN = SETTING_NAMES + tuple(ALIASES)
_settings_init = Settings.__init__


def _init(self, *args, timeout: float | None = None, **kwargs) -> None:
    if timeout is not None:  # the old name, as in a file
        kwargs.setdefault("command_timeout", timeout)
    _settings_init(self, *args, **kwargs)


Settings.__init__ = _init


class _Sources(dict):
    """Where each setting came from; an old name finds its setting's."""

    def __missing__(self, key: str) -> str:
        if key in ALIASES:
            return self[ALIASES[key]]
        raise KeyError(key)


def settings_table(flags: dict[str, dict[str, list[str]]]) -> str:
    """The README's table of settings, made from their metadata and `flags` (setting ->
    {command: its flags}, cli/options.flags_by_setting); scripts/settings-table writes it."""
    rows = ["| setting | flag (commands) | variable | default | meaning |",
            "| --- | --- | --- | --- | --- |"]
    for name, (meta, default, _) in SETTINGS_META.items():
        shown = meta.get("default_doc") or ("empty" if default == "" else "none"
                                            if default is None else f"`{default}`".lower()
                                            if isinstance(default, bool) else f"`{default}`")
        flag = f"`{flag_of(name)}` ({', '.join(sorted(flags[name]))})" if flags.get(name) \
            else "none"
        meaning = meta["help"].replace("|", "\\|")
        old = [f"`{meta['alias']}` (file key, `{env_of(meta['alias'])}`, "
               f"`--{meta['alias']}`)"] if "alias" in meta else []
        old += [f"`{cmd} {flag}`" for cmd, flag in meta.get("old_flags", {}).items()]
        if old:
            meaning += "; old names, still read: " + ", ".join(old)
        if "no_flag" in meta:
            meaning += f"; no flag: {meta['no_flag']}"
        rows.append(f"| `{name}` | {flag} | `{env_of(name)}` | {shown} | {meaning} |")
    return "\n".join(rows) + "\n"


def default_of(name: str) -> Any:
    """A setting's default, for code that takes the same value as a parameter: written once."""
    return _FIELDS[name].default


def env_of(name: str) -> str:
    return ENV_PREFIX + name.upper()


def flag_of(name: str) -> str:
    """The command-line flag that sets `name` (an alias: its old flag), for messages."""
    if name in ALIASES:
        return "--" + name.replace("_", "-")
    return _FIELDS[name].metadata.get("flag", "--" + name.replace("_", "-"))


def _coerce(key: str, value: Any, origin: str) -> Any:
    """`value` as the setting's type, within its allowed values; else an error naming where it
    came from (a file, an environment variable, a flag) and the setting as it was spelled."""
    name = ALIASES.get(key, key)
    value = _as_type(name, value, origin, key)
    meta = _FIELDS[name].metadata
    where = f"{origin}: {key} = {value!r}"
    allowed = CHOICES.get(name)
    if allowed and value not in allowed:
        close = difflib.get_close_matches(str(value), allowed, n=1)
        raise ConfigError(f"{where} is not one of {', '.join(allowed)}",
                          hint=f"did you mean {close[0]!r}?" if close else
                          f"set {key} to one of them")
    if "pattern" in meta and not (re.fullmatch(meta["pattern"], value.strip() if meta.get(
            "cased") else value.strip().lower())
                                  and _at_least_6m(name, value)):
        raise ConfigError(f"{where} is not {meta['what']}",
                          hint=f"e.g. {key} = {meta['example']}")
    if meta.get("nonblank") and not value.strip():
        raise ConfigError(f"{where} is empty: nothing would run, so nothing would be checked",
                          hint=f"give {flag_of(name)} the command that runs the tests")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low = meta.get("min")  # numbers are positive unless a field says 0 is allowed
        if not math.isfinite(value) or (value < low if low is not None else value <= 0):
            raise ConfigError(f"{where} must be a positive number" if low is None else
                              f"{where} must be {low} or more",
                              hint=f"e.g. {key} = {_FIELDS[name].default or 60!r}")
    return value


def _at_least_6m(name: str, value: str) -> bool:
    if name != "mem_limit":
        return True
    number, unit = re.fullmatch(r"(\d+)([kmg]?)b?", value.strip().lower()).groups()
    return int(number) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[unit] >= 6 * 2**20


def _as_type(name: str, value: Any, origin: str, key: str) -> Any:
    kind = _FIELDS[name].type.removesuffix(" | None")  # None: only as the default
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
            f"{origin}: {key} = {value!r} is not a valid {kind}",
            hint=f"set {key} to a {kind}",
        ) from None


def _check_keys(table: dict[str, Any], origin: str) -> dict[str, Any]:
    out = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in _KNOWN:
            close = difflib.get_close_matches(name, _KNOWN, n=1)
            raise ConfigError(
                f"{origin}: unknown setting {key!r}",
                hint=f"did you mean {close[0]!r}?" if close else "see `patchlore config show`",
            )
        out[name] = _coerce(name, value, origin)
    return _canonical(out)


def _canonical(values: dict[str, Any]) -> dict[str, Any]:
    """Old names as their settings; the new name wins when a layer gives both."""
    out = {ALIASES[k]: v for k, v in values.items() if k in ALIASES}
    out.update({k: v for k, v in values.items() if k not in ALIASES})
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
    values: dict[str, Any] = {}
    sources = _Sources({name: "default" for name in SETTING_NAMES})
    layers = _file_layers(repo)
    env = {k: os.environ[env_of(k)] for k in _KNOWN if env_of(k) in os.environ}
    layers.append(("environment", _canonical({k: _coerce(k, v, f"${env_of(k)}")
                                              for k, v in env.items()})))
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    layers.append(("flag", _canonical({k: _coerce(k, v, flag_of(k)) for k, v in given.items()})))
    for origin, layer in layers:
        values.update(layer)
        sources.update(dict.fromkeys(layer, origin))
    return Settings(**values, sources=sources)
