"""`patchlore doctor`: is this machine ready? One row per check, with a fix for each failure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import typer

from patchlore.cli import options


class Level(StrEnum):
    """How a check came out; the string is what `--json` prints."""

    OK = "ok"
    WARN = "warn"  # works, but not as well as it could: the fix says how
    FAIL = "fail"  # patchlore cannot work here until fixed: exit 1

    @property
    def colour(self) -> str:
        return {Level.OK: "green", Level.WARN: "yellow", Level.FAIL: "red"}[self]


@dataclass
class Check:
    name: str
    status: Level
    detail: str
    fix: str = ""


def check_git() -> Check:
    import shutil
    import subprocess

    if not shutil.which("git"):
        return Check("git", Level.FAIL, "git not found", "install git")
    version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    return Check("git", Level.OK, version)


def check_docker(image: str) -> list[Check]:
    from patchlore.errors import SandboxUnavailable
    from patchlore.sandbox.docker_backend import docker_client, require_image

    try:
        client = docker_client(timeout=5)
    except SandboxUnavailable as exc:
        return [Check("docker", Level.FAIL, exc.message, exc.hint),
                Check("image", Level.FAIL, f"{image}: cannot check without Docker",
                      "start Docker first")]
    version = client.version().get("Version", "?")
    checks = [Check("docker", Level.OK, f"engine {version}")]
    from patchlore.sandbox.env.images import stale

    try:
        img = require_image(client, image)
        size = img.attrs.get("Size", 0) / 1e6
        why = stale(client, image)
        checks.append(Check("image", Level.WARN, why, "patchlore sandbox build") if why
                      else Check("image", Level.OK, f"{image} ({size:.0f} MB)"))
    except SandboxUnavailable as exc:
        checks.append(Check("image", Level.FAIL, exc.message, exc.hint))
    return checks


def check_requirements(root: Path, settings) -> Check:
    """What the sandbox will install for this repo, and whether that image is built yet."""
    from patchlore.errors import NotARepoError, PatchloreError, SandboxUnavailable
    from patchlore.sandbox.docker_backend import docker_client
    from patchlore.sandbox.env.derive import failure
    from patchlore.sandbox.env.envsetup import cache_dir, exists, plan
    from patchlore.sandbox.env.pyversion import base_image
    from patchlore.sandbox.snapshot import take_snapshot

    if not settings.setup:
        return Check("requirements", Level.OK, "not installed in the sandbox (setup = false)")
    try:
        snap = take_snapshot(root)
    except NotARepoError:
        return Check("requirements", Level.OK, "not a git repo: nothing to check")
    try:
        client = docker_client(timeout=5)
        base, bounds, choice = base_image(client, settings, snap, str(root))
        made = plan(client, base, snap, settings.setup_cmd, bounds=bounds)
    except SandboxUnavailable:  # the docker and image rows say why
        return Check("requirements", Level.OK, "not checked without Docker and the image")
    except PatchloreError as exc:
        return Check("requirements", Level.FAIL, exc.message, exc.hint)
    on = f"on {base} (Python {choice.python}: {choice.why or 'the default'})"
    if not made.steps:
        return Check("requirements", Level.OK, f"nothing to install: {on}")
    built = exists(client, made.tag)
    log = cache_dir() / f"{made.tag.rsplit('-', 1)[1]}.log"
    where, tail = failure(log.read_text(errors="replace")) if log.is_file() else ("", "")
    if not built and where and not where.startswith(" at `rm -rf /repo"):  # the last build failed
        return Check("requirements", Level.FAIL,
                     f"environment setup for {made.tag} failed{where}: {tail}",
                     f"full log: {log}; set setup_cmd to the commands that install "
                     "the requirements, or setup = false")
    done = "built" if built else "built by the first sandbox (needs your index)"
    date = f", dependencies as of {bounds.date}" if bounds.date and made.uv else ""
    return Check("requirements", Level.OK,
                 f"{made.tag} ({done}) {on}{date}: {'; '.join(made.steps)}")


def check_runner(root: Path, test_cmd: str, derived: bool = False) -> Check:
    """The test runner the sandbox reads per-test outcomes with, and why that one; `derived`:
    the command is the repo's own runner's, as no test command was chosen."""
    from patchlore.sandbox.runners import detect, for_command, own_runner

    called = for_command(test_cmd)
    exists = (lambda p: (root / p).is_file())
    found, why = detect(exists)
    own = own_runner(exists)
    if called is None:
        return Check("runner", Level.WARN,
                     f"the test command `{test_cmd}` calls no known runner: "
                     "verified by its exit code alone",
                     f"e.g. --test-cmd '{found.command}' ({found.name}: {why})")
    if own is not None and called.name != own.name:
        return Check("runner", Level.WARN, f"{called.name} (the test command `{test_cmd}` calls "
                     f"it), though this repo looks like {own.name}'s: {why}",
                     f"e.g. --test-cmd '{own.command}'")
    return Check("runner", Level.OK, f"{called.name}: the test command `{test_cmd}` calls it"
                 + (f" ({why}; no test command was chosen)" if derived else ""))


def check_model(model: str, api_base: str) -> Check:
    import json
    import urllib.error
    import urllib.request

    if not api_base:
        return Check("model", Level.OK, f"{model} (provider endpoint; not probed)")
    url = api_base.rstrip("/") + "/models"
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            served = [m.get("id", "") for m in json.load(resp).get("data", [])]
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check("model", Level.FAIL, f"{url}: {reason}",
                     "start a server (`vllm serve MODEL`) or set api_base / --api-base")
    name = model.split("/", 1)[1] if model.startswith("hosted_vllm/") else model
    if served and name not in served:
        return Check("model", Level.WARN, f"{url} serves {', '.join(served)}, not {name}",
                     f"set model to hosted_vllm/{served[0]}")
    return Check("model", Level.OK, f"{url} serves {', '.join(served) or name}")


def check_memory_dir(path: str) -> Check:
    import tempfile

    p = Path(path).expanduser()
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=p):
            pass
    except OSError as exc:
        return Check("memory", Level.FAIL, f"{p}: {exc.strerror}",
                     "set memory_dir (or --memory) to a writable directory")
    return Check("memory", Level.OK, f"{p} is writable")


def doctor(repo: Path = options.REPO, as_json: bool = options.JSON) -> None:
    """Check Docker, the sandbox image, the repo's requirements, the model endpoint and the
    memory directory.

    Exits 0 when nothing failed, 1 otherwise; every failure comes with a fix.

    \b
    Example:
      patchlore doctor --json
    """
    from patchlore.cli import ui
    from patchlore.config import load_settings
    from patchlore.errors import EXIT_FAILED, NotARepoError
    from patchlore.sandbox.runners import repo_test_cmd
    from patchlore.sandbox.snapshot import find_repo_root

    try:
        root = find_repo_root(repo)
    except NotARepoError:
        root = repo
    settings = load_settings(root)
    with ui.status("checking"):
        checks = [check_git(), *check_docker(settings.image), check_requirements(root, settings),
                  check_runner(root, cmd := repo_test_cmd(settings, root),
                               derived=cmd != settings.test_cmd),
                  check_model(settings.model, settings.api_base),
                  check_memory_dir(settings.memory_dir)]
    failed = any(c.status == Level.FAIL for c in checks)
    if as_json:
        ui.print_json({"ok": not failed, "checks": [c.__dict__ for c in checks]})
    else:
        from rich.table import Table

        table = Table(title="patchlore doctor", title_justify="left")
        for col in ("check", "status", "detail", "fix"):
            table.add_column(col, overflow="fold")
        for c in checks:
            table.add_row(c.name, f"[{c.status.colour}]{c.status}[/]", c.detail, c.fix)
        ui.out().print(table)
    if failed:
        raise typer.Exit(EXIT_FAILED)
