"""The ``hangar`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hangar import __version__
from hangar.cli import admin

app = typer.Typer(
    help="Hangar: compute sessions, folders, experiments and endpoints.", no_args_is_help=True
)
app.add_typer(admin.app, name="admin")


@app.command()
def server(
    host: Annotated[str | None, typer.Option(help="Bind address [HANGAR_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Bind port; 0 picks one [HANGAR_PORT].")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="State directory [HANGAR_DATA_DIR].")
    ] = None,
) -> None:
    """Start Hangar with embedded defaults: API, scheduler, agent, SQLite, local storage."""
    from hangar.cli.server import run
    from hangar.settings import load_settings

    overrides = {
        k: v for k, v in {"host": host, "port": port, "data_dir": data_dir}.items() if v is not None
    }
    run(load_settings(**overrides))


@app.command()
def version() -> None:
    """Print Hangar's version."""
    print(__version__)


def main() -> None:
    app()
