"""The `patchlore` entry point. It imports typer and the commands only when it needs them: a
help request already answered is printed from the help cache (cli/helpcache.py), and
`--version` needs nothing either."""

from __future__ import annotations

import signal
import sys

from patchlore import __version__
from patchlore.cli import helpcache


def _interrupted(code: int, how: str) -> None:
    """Say so, remove this process's sandboxes, exit 128 + the signal. A batch's workers may
    be inside their instances still: they are not waited for (results are written per
    instance, and what they leave in /tmp is swept by the next batch, as after kill -9)."""
    import contextlib
    import os
    import threading

    from patchlore.sandbox.registry import close_all

    try:
        print(f"interrupted ({how})", file=sys.stderr, flush=True)
    except OSError:  # nobody reads stderr any more (the parent that piped it died first): the
        # removal must still come, and the exit must not wait on the workers
        sys.stdout = sys.stderr = open(os.devnull, "w")
    close_all()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError):
                stream.flush()
        os._exit(code)
    sys.exit(code)


def _engine_failure(exc: BaseException) -> str:
    """What failed when a Docker engine call broke mid-command (a timeout under load, the
    engine stopped), else ''; only where docker is in use, so other errors are not misnamed."""
    if "docker" not in sys.modules:
        return ""
    from patchlore.sandbox.docker_backend import engine_error

    return engine_error(exc)


def _run(app, argv: list[str]):
    """Run the app; a help request's text is also kept for the next time."""
    if not helpcache.is_request(argv):
        return app(standalone_mode=False)
    import contextlib
    import io

    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            code = app(standalone_mode=False)
    finally:
        sys.stdout.write(out.getvalue())
    if code in (0, None) and out.getvalue():
        helpcache.keep(argv, out.getvalue())
    return code


def main() -> None:
    """Entry point: user errors become one line and a documented exit code, never a traceback."""
    argv = sys.argv[1:]
    if argv == ["--version"]:
        print(f"patchlore {__version__}")
        sys.exit(0)
    if helpcache.serve(argv):
        sys.exit(0)
    from typer import Exit

    from patchlore.cli.root import app

    from patchlore.sandbox.registry import Interrupted, handle

    handle(signal.SIGINT, signal.SIGTERM)  # Interrupted, caught below

    try:  # typer vendors click since 0.26; older releases use click itself
        from typer._click import exceptions as click_errors
    except ImportError:
        from click import exceptions as click_errors
    help_only = getattr(click_errors, "NoArgsIsHelpError", ())  # a group run bare: its help

    from patchlore.errors import EXIT_USAGE, PatchloreError

    try:
        code = _run(app, argv)
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
