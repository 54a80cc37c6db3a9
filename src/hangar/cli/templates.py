"""``hangar sesstpl``: session templates."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from hangar.cli.common import OUTPUT, done, open_session, print_json, read_input, run, show
from hangar.cli.render import console

app = typer.Typer(help="Session templates: reusable session parameters.", no_args_is_help=True)

FileOpt = Annotated[str | None, typer.Option("-f", "--file", help="YAML/JSON file; default stdin.")]


@app.command("create")
def create(
    file: FileOpt = None,
    domain: Annotated[str | None, typer.Option("-d", "--domain")] = None,
    group: Annotated[str | None, typer.Option("-g", "--group")] = None,
    owner: Annotated[str | None, typer.Option("-o", "--owner", help="Owner access key.")] = None,
) -> None:
    """Store a session template; prints its id."""
    text = read_input(file)

    async def main() -> str:
        async with open_session() as session:
            tpl = await session.SessionTemplate.create(text, domain, group, owner)
            return str(tpl.template_id)

    template_id = run(main())
    if OUTPUT.json:
        print_json({"id": template_id})
    else:
        console.print(f"[green]✓[/] Session template {template_id} created.")


@app.command("list")
def list_(all_: Annotated[bool, typer.Option("-a", "--all", help="All (admin).")] = False) -> None:
    """List session templates."""

    async def main() -> list[dict[str, Any]]:
        async with open_session() as session:
            return await session.SessionTemplate.list_templates(all_)

    items = run(main())
    columns = ["name", "id", "created_at", "is_owner", "type", "user", "group"]
    show("Session templates", columns, [[i.get(c) for c in columns] for i in items])


@app.command("get")
def get(
    template_id: str,
    fmt: Annotated[str, typer.Option("-f", "--format", help="yaml or json.")] = "yaml",
) -> None:
    """Print a session template."""

    async def main() -> str:
        async with open_session() as session:
            return await session.SessionTemplate(template_id).get(fmt)

    text = run(main())
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


@app.command("update")
def update(template_id: str, file: FileOpt = None) -> None:
    """Replace a session template's content."""
    text = read_input(file)

    async def main() -> None:
        async with open_session() as session:
            await session.SessionTemplate(template_id).put(text)

    run(main())
    done(f"Session template {template_id} updated.", {"id": template_id})


@app.command("delete")
def delete(
    template_id: str, yes: Annotated[bool, typer.Option("-y", "--yes", "-f", "--force")] = False
) -> None:
    """Delete a session template."""
    if not yes and sys.stdin.isatty() and not typer.confirm(f"Delete template {template_id}?"):
        raise typer.Exit(1)

    async def main() -> None:
        async with open_session() as session:
            await session.SessionTemplate(template_id).delete()

    run(main())
    done(f"Session template {template_id} deleted.", {"id": template_id})
