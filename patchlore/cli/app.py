"""The `patchlore` command. Sub-command modules import only what their commands need."""

from __future__ import annotations

import signal
import sys

import typer

from patchlore import __version__
from patchlore.cli import (check_cmd, config_cmd, doctor_cmd, eval_cmd, fix_cmd, localize_cmd,
                           memory_cmd, model_cmd, practice_cmd, runs_cmd, sandbox_cmd)

app = typer.Typer(
    name="patchlore",
    help="A code-repair agent that proves every fix in a sandbox and remembers what worked.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("fix")(fix_cmd.fix)
app.command("localize")(localize_cmd.localize)
app.command("practice")(practice_cmd.practice)
app.command("check", context_settings={"allow_interspersed_args": False})(check_cmd.check)
app.add_typer(runs_cmd.app, name="runs")
app.add_typer(memory_cmd.app, name="memory")
app.add_typer(eval_cmd.app, name="eval")
app.add_typer(sandbox_cmd.app, name="sandbox")
app.add_typer(model_cmd.app, name="model")
app.add_typer(config_cmd.app, name="config")
app.command("doctor")(doctor_cmd.doctor)


def _version(value: bool) -> None:
    if value:
        print(f"patchlore {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """patchlore fixes failing tests, proves each fix in a sandbox, and learns from what worked.

    \b
    Examples:
      patchlore fix --apply                 repair the failing tests, apply the verified fix
      patchlore doctor                      check Docker, the image, the model, the memory
      patchlore sandbox build               build the sandbox image (offline if need be)
      patchlore sandbox exec -- pytest -q   run the tests in a fresh sandbox of this repo
      patchlore config show                 the effective settings and where each comes from
    """


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM, raised in the main thread so that cleanups run. Not a
    KeyboardInterrupt: typer turns that into a silent exit 130."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.code = 128 + signum  # as a shell reports a death by that signal: 130, 143
        self.how = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"


def _on_signal(signum, frame) -> None:
    raise Interrupted(signum)


def _interrupted(code: int, how: str) -> None:
    """Say so, remove this process's sandboxes, exit 128 + the signal. A batch's workers may
    be inside their instances still: they are not waited for (results are written per
    instance, and what they leave in /tmp is swept by the next batch, as after kill -9)."""
    import os
    import threading

    from patchlore.sandbox.registry import close_all

    print(f"interrupted ({how})", file=sys.stderr)
    close_all()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _engine_failure(exc: BaseException) -> str:
    """What failed when a Docker engine call broke mid-command (a timeout under load, the
    engine stopped), else ''; only where docker is in use, so other errors are not misnamed."""
    if "docker" not in sys.modules:
        return ""
    from patchlore.sandbox.docker_backend import engine_error

    return engine_error(exc)


def main() -> None:
    """Entry point: user errors become one line and a documented exit code, never a traceback."""
    from typer import Exit

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    try:  # typer vendors click since 0.26; older releases use click itself
        from typer._click import exceptions as click_errors
    except ImportError:
        from click import exceptions as click_errors
    help_only = getattr(click_errors, "NoArgsIsHelpError", ())  # a group run bare: its help

    from patchlore.errors import EXIT_USAGE, PatchloreError

    try:
        code = app(standalone_mode=False)
    except PatchloreError as exc:
        from patchlore.cli import ui

        ui.error(exc.message, exc.hint)
        sys.exit(exc.exit_code)
    except click_errors.UsageError as exc:
        if isinstance(exc, help_only):
            exc.show()
        else:  # one line, as every other error, not click's usage block
            from patchlore.cli import ui

            ui.error(exc.format_message(),
                     f"see `{exc.ctx.command_path} --help`" if exc.ctx else "")
        sys.exit(EXIT_USAGE)
    except click_errors.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code if exc.exit_code else EXIT_USAGE)
    except Exit as exc:
        sys.exit(exc.exit_code)
    except Interrupted as exc:
        _interrupted(exc.code, exc.how)
    except Exception as exc:
        what = _engine_failure(exc)
        if not what:
            raise
        from patchlore.cli import ui

        ui.error(what, "the engine is stopped or overloaded: check `docker info` and retry, or "
                 "give its calls longer with PATCHLORE_DOCKER_TIMEOUT (seconds)")
        sys.exit(EXIT_USAGE)
    sys.exit(code if isinstance(code, int) else 0)
