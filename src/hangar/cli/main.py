"""The ``hangar`` command."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from hangar import __version__
from hangar.cli import (
    account,
    admin,
    billing,
    dotfiles,
    experiments,
    images,
    queues,
    run,
    sessions,
    templates,
    vfolders,
)
from hangar.cli.common import OUTPUT

app = typer.Typer(
    help="Hangar: compute sessions, folders, experiments and endpoints.", no_args_is_help=True
)


class OutputFormat(enum.StrEnum):
    CONSOLE = "console"
    JSON = "json"


@app.callback()
def main_options(
    output: Annotated[
        OutputFormat, typer.Option("--output", help="console (tables) or json.")
    ] = OutputFormat.CONSOLE,
) -> None:
    OUTPUT.json = output is OutputFormat.JSON


# the documented `admin sessions` (and `admin session`) is `ps` with other keypairs' sessions
admin.app.command("sessions", help="List compute sessions; --access-key for another keypair's.")(
    sessions.ps
)
admin.app.command("session", hidden=True)(sessions.ps)
billing.register(admin.app)  # admin usage, admin price ..., admin limit ...
app.add_typer(admin.app, name="admin")
for commands in (account.app, sessions.app, run.app):
    app.registered_commands.extend(commands.registered_commands)
app.add_typer(vfolders.app, name="vfolder")
app.add_typer(templates.app, name="sesstpl")
app.add_typer(dotfiles.app, name="dotfile")
app.add_typer(experiments.app, name="experiments")
app.add_typer(queues.app, name="queue")
app.add_typer(images.app, name="image")


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
    raise typer.Exit(run(load_settings(**overrides)))


@app.command()
def agent(
    manager: Annotated[str, typer.Option(help="The manager's URL, e.g. http://head:8090.")],
    host: Annotated[str, typer.Option(help="Bind address for the manager's calls.")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="Bind port; 0 picks one.")] = 6001,
    advertise: Annotated[
        str | None,
        typer.Option(help="URL the manager calls this agent at (default: from the bind)."),
    ] = None,
    scaling_group: Annotated[str, typer.Option(help="Scaling group to join.")] = "default",
    agent_id: Annotated[
        str | None, typer.Option(help="Agent id (default i-<hostname>) [HANGAR_AGENT_ID].")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Scratch and log directory [HANGAR_DATA_DIR].")
    ] = None,
    runtime: Annotated[
        str | None, typer.Option(help="bubblewrap or fake [HANGAR_AGENT_RUNTIME].")
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(help="File holding the manager's agent token [or HANGAR_AGENT_TOKEN]."),
    ] = None,
) -> None:
    """Run this machine's agent for a manager elsewhere: it runs the sessions the manager
    schedules here and reports every few seconds."""
    from hangar.cli.agent import run as run_agent
    from hangar.settings import load_settings

    overrides = {
        k: v
        for k, v in {"agent_id": agent_id, "data_dir": data_dir, "agent_runtime": runtime}.items()
        if v is not None
    }
    raise typer.Exit(
        run_agent(
            load_settings(**overrides),
            manager=manager,
            host=host,
            port=port,
            advertise=advertise,
            scaling_group=scaling_group,
            token_file=token_file,
        )  # fmt: skip
    )


@app.command()
def version() -> None:
    """Print Hangar's version."""
    print(__version__)


def main() -> None:
    app()
