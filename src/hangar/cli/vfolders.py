"""``hangar vfolder``: virtual folders and their files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hangar.cli.common import OUTPUT, done, open_session, print_json, run, show
from hangar.cli.render import console, fail
from hangar.util.sizes import parse_size

app = typer.Typer(help="Virtual folders: create, share, upload and download.",
                  no_args_is_help=True)  # fmt: skip

Name = Annotated[str, typer.Argument(metavar="NAME", help="Folder name.")]
Perm = Annotated[str, typer.Option("-p", "--perm", help="ro, rw or wd.")]
CHUNK = 16 * 2**20


@app.command("list")
def list_(
    group: Annotated[str | None, typer.Option("-g", "--group", help="Group id.")] = None,
) -> None:
    """List the folders you can access: your own, your groups' and those shared with you."""
    fields = ["name", "id", "host", "permission", "ownership_type", "is_owner", "creator",
              "created_at"]  # fmt: skip

    async def main() -> list[dict[str, Any]]:
        async with open_session() as session:
            items = await session.VFolder.list()
        return [i for i in items if group is None or str(i.get("group")) in (group,
                group.replace("-", ""))]  # fmt: skip

    items = run(main())
    if not items and not OUTPUT.json:
        console.print("There are no virtual folders.")
        return
    show("Virtual folders", fields, [[i.get(f) for f in fields] for i in items])


@app.command("list-hosts")
def list_hosts() -> None:
    """List the storage hosts you may create folders on."""

    async def main() -> dict[str, Any]:
        async with open_session() as session:
            return await session.VFolder.list_hosts()

    hosts = run(main())
    if OUTPUT.json:
        print_json(hosts)
        return
    console.print(f"Default host: {hosts.get('default')}")
    console.print(f"Usable hosts: {', '.join(hosts.get('allowed', []))}")


@app.command("list-allowed-types")
def list_allowed_types() -> None:
    """List the folder types you may create (user, group)."""

    async def main() -> list[str]:
        async with open_session() as session:
            return await session.VFolder.list_allowed_types()

    types = run(main())
    if OUTPUT.json:
        print_json(types)
    else:
        console.print(", ".join(types))


@app.command("create")
def create(
    name: Name,
    host: Annotated[str | None, typer.Argument(help="Storage host.")] = None,
    group: Annotated[str | None, typer.Option("-g", "--group", help="Group folder.")] = None,
    usage_mode: Annotated[str, typer.Option("-m", "--usage-mode")] = "general",
    permission: Perm = "rw",
    quota: Annotated[str, typer.Option("-q", "--quota", help="e.g. 10g; 0 = none.")] = "0",
    cloneable: Annotated[bool, typer.Option("--cloneable")] = False,
) -> None:
    """Create a virtual folder."""

    async def main() -> dict[str, Any]:
        async with open_session() as session:
            return await session.VFolder.create(
                name, host, group=group, usage_mode=usage_mode, permission=permission,
                quota=quota, cloneable=cloneable,
            )  # fmt: skip

    result = run(main())
    done(f"Virtual folder {result.get('name', name)} created on {result.get('host')}.", result)


def _simple(action: str, message: str, *args: Any) -> None:
    async def main() -> Any:
        async with open_session() as session:
            return await getattr(session.VFolder(args[0]), action)(*args[1:])

    result = run(main())
    done(message, result if isinstance(result, dict) else {})


@app.command("delete")
def delete(name: Name) -> None:
    """Delete a folder and everything in it."""
    _simple("delete", f"Virtual folder {name} deleted.", name)


@app.command("rename")
def rename(name: Name, new_name: str) -> None:
    """Rename a folder."""
    _simple("rename", f"Virtual folder {name} renamed to {new_name}.", name, new_name)


@app.command("info")
def info(name: Name) -> None:
    """Show a folder's details."""

    async def main() -> dict[str, Any]:
        async with open_session() as session:
            return await session.VFolder(name).info()

    result = run(main())
    if OUTPUT.json:
        print_json(result)
    else:
        show(f"Virtual folder {name}", ["field", "value"], sorted(result.items()))


@app.command("upload")
def upload(
    name: Name,
    files: Annotated[list[Path], typer.Argument(help="Local files.")],
    basedir: Annotated[Path | None, typer.Option("-b", "--base-dir")] = None,
    chunk_size: Annotated[str, typer.Option("--chunk-size")] = "16m",
) -> None:
    """Upload files into a folder (existing files are overwritten)."""

    async def main() -> None:
        async with open_session() as session:
            await session.VFolder(name).upload(
                files, basedir=basedir, chunk_size=parse_size(chunk_size),
                show_progress=not OUTPUT.json,
            )  # fmt: skip

    run(main())
    done(f"Uploaded {len(files)} file(s) to {name}.", {"files": [str(f) for f in files]})


@app.command("download")
def download(
    name: Name,
    files: Annotated[list[str], typer.Argument(help="Paths in the folder.")],
    basedir: Annotated[Path | None, typer.Option("-b", "--base-dir")] = None,
) -> None:
    """Download files from a folder (existing local files are overwritten)."""

    async def main() -> None:
        async with open_session() as session:
            await session.VFolder(name).download(
                files, basedir=basedir, show_progress=not OUTPUT.json
            )

    run(main())
    done(f"Downloaded {len(files)} file(s) from {name}.", {"files": files})


@app.command("ls")
def ls(name: Name, path: Annotated[str, typer.Argument()] = ".") -> None:
    """List files in a folder's directory."""

    async def main() -> dict[str, Any]:
        async with open_session() as session:
            result: dict[str, Any] = await session.VFolder(name).list_files(path)
            return result

    result = run(main())
    if result.get("error_msg"):
        fail(str(result["error_msg"]))
        raise typer.Exit(1)
    items = result.get("items")
    if items is None:
        items = [
            {"name": e["filename"], "size": e["size"], "mode": e["mode"], "modified": e["mtime"]}
            for e in json.loads(result.get("files") or "[]")
        ]
    rows = [(i.get("name"), i.get("type"), i.get("size"), i.get("mode"), i.get("modified"))
            for i in items]  # fmt: skip
    show(f"Files in {name}:{path}", ["name", "type", "size", "mode", "modified"], rows)


@app.command("mkdir")
def mkdir(name: Name, path: str) -> None:
    """Create a directory (and its parents) in a folder."""
    _simple("mkdir", f"Directory {path} created in {name}.", name, path)


@app.command("rename-file")
def rename_file(name: Name, path: str, new_name: str) -> None:
    """Rename a file or directory in a folder."""
    _simple("rename_file", f"{path} renamed to {new_name}.", name, path, new_name)


@app.command("mv")
def mv(name: Name, src: str, dst: str) -> None:
    """Move a file or directory within a folder."""
    _simple("move_file", f"{src} moved to {dst}.", name, src, dst)


@app.command("rm")
def rm(
    name: Name,
    files: Annotated[list[str], typer.Argument(help="Paths in the folder.")],
    recursive: Annotated[bool, typer.Option("-r", "--recursive")] = False,
    yes: Annotated[bool, typer.Option("-y", "--yes", help="Do not ask.")] = False,
) -> None:
    """Delete files in a folder (irreversible)."""
    if not yes and sys.stdin.isatty() and not typer.confirm(f"Delete {', '.join(files)}?"):
        raise typer.Exit(1)
    _simple("delete_files", f"Deleted {', '.join(files)} from {name}.", name, files, recursive)


@app.command("invite")
def invite(name: Name, emails: list[str], perm: Perm = "rw") -> None:
    """Invite users to a folder of yours."""
    _simple("invite", f"Invited {', '.join(emails)} to {name}.", name, perm, emails)


@app.command("invitations")
def invitations() -> None:
    """List the folder invitations addressed to you."""

    async def main() -> Any:
        async with open_session() as session:
            return await session.VFolder.invitations()

    result = run(main())
    items = (result or {}).get("invitations", [])
    columns = ["id", "vfolder_name", "inviter", "perm", "state"]
    show("Invitations", columns, [[i.get(c) for c in columns] for i in items])


@app.command("accept-invitation")
def accept_invitation(invitation_id: str) -> None:
    """Accept a folder invitation."""

    async def main() -> Any:
        async with open_session() as session:
            return await session.VFolder.accept_invitation(invitation_id)

    run(main())
    done(f"Invitation {invitation_id} accepted.")


@app.command("reject-invitation")
def reject_invitation(invitation_id: str) -> None:
    """Reject (or, as inviter, cancel) a folder invitation."""

    async def main() -> Any:
        async with open_session() as session:
            return await session.VFolder.delete_invitation(invitation_id)

    run(main())
    done(f"Invitation {invitation_id} rejected.")


@app.command("share")
def share(name: Name, emails: list[str], perm: Perm = "rw") -> None:
    """Share a group folder with users of the group."""
    _simple("share", f"Shared {name} with {', '.join(emails)}.", name, perm, emails)


@app.command("unshare")
def unshare(name: Name, emails: list[str]) -> None:
    """Stop sharing a group folder with users."""
    _simple("unshare", f"Unshared {name} from {', '.join(emails)}.", name, emails)


@app.command("leave")
def leave(name: Name) -> None:
    """Leave a folder shared with you."""
    _simple("leave", f"Left {name}.", name)


@app.command("clone")
def clone(
    name: Name,
    target_name: str,
    target_host: Annotated[str | None, typer.Argument()] = None,
    usage_mode: Annotated[str, typer.Option("-m", "--usage-mode")] = "general",
    permission: Perm = "rw",
) -> None:
    """Clone a cloneable folder."""
    _simple("clone", f"Cloning {name} to {target_name}.", name, target_name, target_host,
            usage_mode, permission)  # fmt: skip


@app.command("update-options")
def update_options(
    name: Name,
    permission: Annotated[str | None, typer.Option("-p", "--perm")] = None,
    cloneable: Annotated[bool | None, typer.Option("--cloneable/--not-cloneable")] = None,
) -> None:
    """Change a folder's default permission or whether it can be cloned."""
    _simple("update_options", f"Options of {name} updated.", name, name, permission, cloneable)
