"""`patchlore sandbox`: build the image, run a command in a fresh sandbox, prune leftovers."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer

from patchlore.cli import options

app = typer.Typer(help="Build the sandbox image, run commands in a sandbox, clean up.",
                  no_args_is_help=True)


@app.command("build")
def build(
    method: str = typer.Option(
        "auto", "--method", help="auto (dockerfile if a registry answers, else debootstrap), "
        "dockerfile, or debootstrap."),
    tag: str = typer.Option(None, "--image", help="Tag to build (default: the `image` setting, "
                            "or beside it `:py3.X` for another Python)."),
    python_version: str = typer.Option(
        "3.11", "--python", help="3.9 (bullseye), 3.11 (bookworm) or 3.13 (trixie): the Debian "
        "release whose Python the image has."),
) -> None:
    """Build a sandbox image (Debian's Python 3, git, pytest, pytest-timeout, patch, gcc, g++
    and Python's headers for projects' extensions, a non-root user). Repos whose metadata or
    date call for another Python get the image of that Python (`patchlore doctor` says which
    and why).

    \b
    Examples:
      patchlore sandbox build                      # picks the way that works here
      sudo patchlore sandbox build --method debootstrap   # offline, from Debian packages
      patchlore sandbox build --python 3.9         # for repos that need Python < 3.10
    """
    import time

    from patchlore.cli import ui
    from patchlore.config import default_of, load_settings
    from patchlore.sandbox.docker_backend import docker_client
    from patchlore.sandbox.env.images import build_image, tag_for

    # --image is checked as the setting is: a bad tag is one line, before any build starts; the
    # parameters are named apart from the image and python settings: they say what to build
    settings = load_settings(Path.cwd(), {"image": tag})
    tag = settings.image if tag else tag_for(python_version, settings.image)
    client = docker_client(timeout=default_of("command_timeout"))  # a build: one long command
    start = time.monotonic()
    with ui.status(f"building {tag}"):
        used = build_image(client, tag, method, ui.info, python_version)
    ui.info(f"built {tag} with {used} in {time.monotonic() - start:.0f} s")


@app.command("exec", context_settings={"allow_interspersed_args": False})
def exec_(
    command: list[str] = typer.Argument(..., help="The command (after --); one argument is "
                                        "run by the shell as it is."),
    repo: Path = options.REPO,
    sandbox: str = options.setting("sandbox"),
    image: str = options.setting("image"),
    workdir: str = options.setting("workdir"),
    command_timeout: float = options.setting("command_timeout", "sandbox exec"),
    network: bool = options.setting("network"),
    setup: bool = options.setting("setup"),
    patch: Path = typer.Option(None, "--patch", help="Apply this diff in the sandbox first."),
    as_json: bool = options.JSON,
) -> None:
    """Run a command in a fresh sandbox of the repo as it is now, and print the result.

    A pytest command also gets per-test outcomes. Exits with the command's exit code
    (124 if it timed out). The repo on the host is never changed.

    \b
    Examples:
      patchlore sandbox exec -- python3 -m pytest -q
      patchlore sandbox exec --repo ~/src/app --timeout 60 -- "make test && make lint"
      patchlore sandbox exec --patch fix.diff -- pytest -q tests/test_parser.py
    """
    from patchlore.cli import ui
    from patchlore.errors import EXIT_TIMEOUT, PatchloreError
    from patchlore.sandbox.factory import open_sandbox
    from patchlore.sandbox.snapshot import find_repo_root
    from patchlore.sandbox.testrun import run_tests

    root = find_repo_root(repo)
    settings = options.load_settings(root)
    cmd = command[0] if len(command) == 1 else shlex.join(command)
    diff = _read_patch(patch) if patch else None
    with ui.status(f"starting a sandbox of {root}"):
        box = open_sandbox(settings, str(root), warn=ui.warn, note=ui.info)
    with box:
        if diff is not None:
            applied = box.apply_patch(diff)
            if not applied.applied:
                raise PatchloreError(f"{patch} does not apply: {applied.reason}",
                                     hint="regenerate it against the repo as it is now")
            ui.info(f"{patch}: {applied.reason}")
        with ui.status(f"running {cmd}"):
            run = run_tests(box, cmd)
    res = run.command
    if as_json:
        ui.print_json({"backend": box.backend, **run.to_dict()})
    else:
        _show_run(run, box.backend)
    raise typer.Exit(EXIT_TIMEOUT if res.timed_out else res.exit_code or 0)


def _read_patch(path: Path) -> str:
    from patchlore.errors import PatchloreError

    try:
        return path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise PatchloreError(f"{path}: {exc.strerror}", hint="pass --patch a diff file") from None


def _show_run(run, backend: str) -> None:
    import sys

    from patchlore.cli import ui
    from patchlore.sandbox.testrun import SKIPPED

    res = run.command
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    if run.per_test:  # pytest's JUnit XML or another runner's log (sandbox/runners)
        from rich.table import Table

        bad = {k: t for k, t in run.tests.items() if not t.passed and t.status != SKIPPED}
        if bad:
            table = Table(title="failing tests", title_justify="left", show_lines=True)
            table.add_column("test")
            table.add_column("status")
            table.add_column("short traceback", overflow="fold")
            for name, t in sorted(bad.items()):
                table.add_row(name, t.status, "\n".join(t.message.splitlines()[-8:]))
            ui.err().print(table)
        ui.info("tests: " + ", ".join(f"{n} {s}" for s, n in sorted(run.counts.items())))
    state = "timed out" if res.timed_out else f"exit {res.exit_code}"
    cut = ", output cut" if res.truncated else ""
    ui.info(f"{state} in {res.duration:.2f} s ({backend} sandbox{cut})")


@app.command("prune")
def prune(
    everything: bool = typer.Option(False, "--all", help="Also remove containers of live runs."),
    env_images: bool = typer.Option(False, "--env-images", help="Also remove the images with "
                                    "repos' requirements installed (rebuilt when needed)."),
) -> None:
    """Remove sandbox containers left behind by runs that are no longer alive.

    \b
    Examples:
      patchlore sandbox prune
      patchlore sandbox prune --env-images
    """
    from patchlore.cli import ui
    from patchlore.sandbox.docker_backend import prune as prune_containers
    from patchlore.sandbox.docker_backend import prune_env_images

    removed = prune_containers(everything=everything)
    ui.info(f"removed {len(removed)} sandbox container(s)" +
            (f": {' '.join(removed)}" if removed else ""))
    if env_images:
        tags = prune_env_images()
        ui.info(f"removed {len(tags)} environment image(s)" +
                (f": {' '.join(tags)}" if tags else ""))
