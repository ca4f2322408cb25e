"""The `patchlore` command's typer app: what `cli/app.py` imports once it knows it needs it."""

from __future__ import annotations

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
