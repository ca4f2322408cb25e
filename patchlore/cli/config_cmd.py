"""`patchlore config`: the effective settings and where each came from."""

from __future__ import annotations

from pathlib import Path

import typer

from patchlore.cli import options

app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)


@app.command("show")
def show(repo: Path = options.REPO, as_json: bool = options.JSON) -> None:
    """Print every setting, its value, and where it came from.

    Precedence: flags > PATCHLORE_* environment > the repo's .patchlore.toml or
    [tool.patchlore] in pyproject.toml > the user config file > defaults.

    \b
    Example:
      PATCHLORE_TIMEOUT=60 patchlore config show --repo ~/src/myproject
    """
    from patchlore.config import SETTING_NAMES, load_settings, user_config_path
    from patchlore.errors import NotARepoError
    from patchlore.sandbox.snapshot import find_repo_root

    try:
        root = find_repo_root(repo)
    except NotARepoError:  # settings still make sense outside a repo
        root = repo
    settings = load_settings(root)
    rows = [(n, getattr(settings, n), settings.sources[n]) for n in SETTING_NAMES]
    if as_json:
        from patchlore.cli import ui

        ui.print_json({n: {"value": v, "source": s} for n, v, s in rows}
                      | {"_user_config": str(user_config_path())})
        return
    from rich.table import Table

    from patchlore.cli import ui

    table = Table(title="patchlore configuration", title_justify="left")
    table.add_column("setting")
    table.add_column("value")
    table.add_column("source", style="dim")
    for name, value, source in rows:
        table.add_row(name, str(value), source)
    ui.out().print(table)
    ui.out().print(f"user config file: {user_config_path()}", style="dim")
