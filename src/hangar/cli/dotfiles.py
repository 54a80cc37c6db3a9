"""``hangar dotfile``: files placed in /home/work of every new session."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from hangar.cli.common import OUTPUT, done, open_session, print_json, read_input, run, show
from hangar.client.func.dotfile import Dotfile

app = typer.Typer(help="Dotfiles created in every new session.", no_args_is_help=True)

PermOpt = Annotated[str, typer.Option("-p", "--perm", help="Octal mode, e.g. 755.")]
FileOpt = Annotated[str | None, typer.Option("-f", "--file", help="Content file; default stdin.")]
Owner = Annotated[str | None, typer.Option("-o", "--owner", help="Owner access key.")]
Domain = Annotated[str | None, typer.Option("-d", "--domain", help="Domain dotfile.")]
Group = Annotated[str | None, typer.Option("-g", "--group", help="Group dotfile.")]


@app.command("create")
def create(
    path: str, perm: PermOpt = "755", file: FileOpt = None, owner: Owner = None,
    domain: Domain = None, group: Group = None,
) -> None:  # fmt: skip
    """Create a dotfile from a file or stdin."""
    data = read_input(file)

    async def main() -> None:
        async with open_session() as session:
            await session.Dotfile.create(data, path, perm, owner, domain, group)

    run(main())
    done(f"Dotfile {path} created.", {"path": path})


@app.command("list")
def list_(owner: Owner = None, domain: Domain = None, group: Group = None) -> None:
    """List dotfiles."""

    async def main() -> list[dict[str, Any]]:
        async with open_session() as session:
            return await session.Dotfile.list_dotfiles(owner, domain, group)

    items = run(main())
    rows = [(i.get("path"), i.get("permission") or i.get("perm"), len(i.get("data", "")))
            for i in items]  # fmt: skip
    show("Dotfiles", ["path", "permission", "size"], rows)


def _dotfile(session: Any, path: str, owner: str | None, domain: str | None,
             group: str | None) -> Dotfile:  # fmt: skip
    dotfile: Dotfile = session.Dotfile(path, owner, group, domain)
    return dotfile


@app.command("get")
def get(path: str, owner: Owner = None, domain: Domain = None, group: Group = None) -> None:
    """Print a dotfile's content."""

    async def main() -> dict[str, Any]:
        async with open_session() as session:
            return await _dotfile(session, path, owner, domain, group).get()

    result = run(main())
    if OUTPUT.json:
        print_json(result)
    else:
        sys.stdout.write(str(result.get("data", "")))


@app.command("update")
def update(
    path: str, perm: PermOpt = "755", file: FileOpt = None, owner: Owner = None,
    domain: Domain = None, group: Group = None,
) -> None:  # fmt: skip
    """Replace a dotfile's content (from a file or stdin)."""
    data = read_input(file)

    async def main() -> None:
        async with open_session() as session:
            await _dotfile(session, path, owner, domain, group).update(data, perm)

    run(main())
    done(f"Dotfile {path} updated.", {"path": path})


@app.command("delete")
def delete(
    path: str, yes: Annotated[bool, typer.Option("-y", "--yes", "-f", "--force")] = False,
    owner: Owner = None, domain: Domain = None, group: Group = None,
) -> None:  # fmt: skip
    """Delete a dotfile."""
    if not yes and sys.stdin.isatty() and not typer.confirm(f"Delete dotfile {path}?"):
        raise typer.Exit(1)

    async def main() -> None:
        async with open_session() as session:
            await _dotfile(session, path, owner, domain, group).delete()

    run(main())
    done(f"Dotfile {path} deleted.", {"path": path})
