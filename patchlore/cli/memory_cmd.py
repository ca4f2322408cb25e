"""`patchlore memory`: look into, search, curate, move and rebuild the memory store."""

from __future__ import annotations

from pathlib import Path

import typer

from patchlore.cli import options

app = typer.Typer(help="Inspect and curate what patchlore has learned.", no_args_is_help=True)


MEMORY, MEMORY_URL = options.setting("memory_dir"), options.setting("memory_url")


def _store(write: bool = False):
    """The store the command's flags and the settings name. Commands that only look open it
    read-only: they work on a read-only directory."""
    from patchlore.cli import ui
    from patchlore.memory.embed import make_embedder
    from patchlore.memory.store import MemoryStore

    settings = options.load_settings(Path.cwd())
    return MemoryStore(settings.memory_dir, url=settings.memory_url, read_only=not write,
                       embedder=make_embedder(settings.embedder),
                       warn=ui.warn)


def _row(r) -> dict:
    from patchlore.memory.schema import Episode

    if isinstance(r, Episode):
        return {"id": r.id, "kind": "episode", "outcome": r.outcome, "source": r.source,
                "repo": r.repo, "summary": r.task.splitlines()[0][:80] if r.task else ""}
    return {"id": r.id, "kind": "insight", "outcome": f"{r.status} (credit {r.credit})",
            "source": "", "repo": "", "summary": r.text[:80]}


def _table(rows: list[dict], title: str) -> None:
    from rich.table import Table

    from patchlore.cli import ui

    table = Table(title=title, title_justify="left")
    cols = ("id", "kind", "outcome", "source", "repo", "summary")
    for col in cols:
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*(str(r[c]) for c in cols))
    ui.out().print(table)


@app.command("list")
def list_(kind: str = typer.Option("all", "--kind", help="all, episodes or insights."),
          memory_dir: Path = MEMORY, memory_url: str = MEMORY_URL,
          as_json: bool = options.JSON) -> None:
    """List episodes and insights, newest first.

    \b
    Example:
      patchlore memory list --kind insights
    """
    from patchlore.cli import ui

    options.one_of("--kind", kind, ("all", "episodes", "insights"))
    store = _store()
    records = ([*store.episodes()] if kind in ("all", "episodes") else []) + \
              ([*store.insights()] if kind in ("all", "insights") else [])
    records.sort(key=lambda r: -r.created)
    rows = [_row(r) for r in records]
    ui.print_json(rows) if as_json else _table(rows, f"memory at {store.path}")


@app.command("show")
def show(record_id: str, memory_dir: Path = MEMORY, memory_url: str = MEMORY_URL,
         as_json: bool = options.JSON) -> None:
    """Show one episode or insight in full.

    \b
    Example:
      patchlore memory show ep-1a2b3c4d5e6f
    """
    from patchlore.cli import ui
    from patchlore.errors import PatchloreError
    from patchlore.memory.schema import to_dict

    record = _store().get(record_id)
    if record is None:
        raise PatchloreError(f"no memory record {record_id!r}", hint="see `patchlore memory list`")
    data = to_dict(record)
    if as_json:
        ui.print_json(data)
        return
    for key, value in data.items():
        ui.out().print(f"[bold]{key}[/]: {value}" if not isinstance(value, str) or "\n" not in
                       value else f"[bold]{key}[/]:\n{value}", markup=True, highlight=False)


@app.command("search")
def search(query: str, memory_dir: Path = MEMORY, memory_url: str = MEMORY_URL,
           as_json: bool = options.JSON) -> None:
    """What a repair with this failure text would recall (hybrid vector + BM25 search).

    \b
    Example:
      patchlore memory search "ZeroDivisionError in average()"
    """
    from patchlore.cli import ui
    from patchlore.memory.retrieve import recall

    found = recall(_store(), query)
    rows = [_row(r) for r in [*found.demos, *found.insights]]
    ui.print_json(rows) if as_json else _table(rows, f"recall for {query!r}")


@app.command("stats")
def stats(memory_dir: Path = MEMORY, memory_url: str = MEMORY_URL,
          as_json: bool = options.JSON) -> None:
    """Counts and disk use.

    \b
    Example:
      patchlore memory stats --json
    """
    from patchlore.cli import ui

    data = _store().stats()
    if as_json:
        ui.print_json(data)
    else:
        for k, v in data.items():
            ui.out().print(f"{k}: {v}")


@app.command("forget")
def forget(record_id: str = typer.Argument(None, help="The record's id."),
           source: str = typer.Option(None, "--source", help="Instead: every episode from "
                                      "this source (fix, check, practice, ...)."),
           memory_dir: Path = MEMORY, memory_url: str = MEMORY_URL) -> None:
    """Remove one record, or every episode of a source (the log keeps that it was forgotten).

    \b
    Examples:
      patchlore memory forget in-0123456789ab
      patchlore memory forget --source practice
    """
    from patchlore.cli import ui
    from patchlore.errors import PatchloreError

    if (record_id is None) == (source is None):
        raise PatchloreError("give a record id or --source, not both or neither",
                             hint="see `patchlore memory list`")
    store = _store(write=True)
    if source is not None:
        doomed = [e.id for e in store.episodes() if e.source == source]
        for rid in doomed:
            store.forget(rid)
        ui.info(f"forgot {len(doomed)} episode(s) from {source}")
        return
    if not store.forget(record_id):
        raise PatchloreError(f"no memory record {record_id!r}", hint="see `patchlore memory list`")
    ui.info(f"forgot {record_id}")


@app.command("export")
def export(dest: Path, memory_dir: Path = MEMORY,
           memory_url: str = MEMORY_URL) -> None:
    """Write every record to a JSONL file (import reads it back exactly).

    \b
    Example:
      patchlore memory export team-memory.jsonl
    """
    from patchlore.cli import ui
    from patchlore.paths import refuse_output_onto_inputs

    store = _store()
    refuse_output_onto_inputs(dest, "export", {"the memory store": store.path})
    ui.info(f"exported {store.export(dest)} record(s) to {dest}")


@app.command("import")
def import_(src: Path, memory_dir: Path = MEMORY,
            memory_url: str = MEMORY_URL) -> None:
    """Add the records of an exported JSONL file (secrets are masked on the way in).

    \b
    Example:
      patchlore memory import team-memory.jsonl
    """
    from patchlore.cli import ui
    from patchlore.errors import PatchloreError

    if not src.is_file():
        raise PatchloreError(f"{src}: no such file")
    count = _store(write=True).import_(src)
    ui.info(f"imported {count} record(s) from {src}")


@app.command("reindex")
def reindex(memory_dir: Path = MEMORY, memory_url: str = MEMORY_URL) -> None:
    """Rebuild the chroma index from the JSONL log (the source of truth).

    \b
    Example:
      patchlore memory reindex
    """
    from patchlore.cli import ui

    ui.info(f"reindexed {_store(write=True).reindex()} record(s)")


@app.command("prune")
def prune(older_than: float = typer.Option(90, "--older-than", callback=options.positive,
                                           help="Drop failed episodes older than this (days)."),
          memory_dir: Path = MEMORY, memory_url: str = MEMORY_URL) -> None:
    """Drop retired insights and old failed episodes.

    \b
    Example:
      patchlore memory prune --older-than 30
    """
    import time

    from patchlore.cli import ui
    from patchlore.memory.schema import FAILED, RETIRED

    store = _store(write=True)
    cutoff = time.time() - older_than * 86400
    doomed = [i.id for i in store.insights() if i.status == RETIRED]
    doomed += [e.id for e in store.episodes() if e.outcome == FAILED and e.created < cutoff]
    for rid in doomed:
        store.forget(rid)
    ui.info(f"pruned {len(doomed)} record(s)")
