"""Client commands for compute sessions: ps, start, rm, events, logs, files, app."""

from __future__ import annotations

import asyncio
import json
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from hangar.cli import waiting
from hangar.cli.common import (
    OUTPUT,
    describe,
    done,
    open_session,
    parse_mounts,
    parse_pairs,
    print_json,
    run,
    show,
)
from hangar.cli.render import console, err_console, fail
from hangar.client import AsyncSession, BackendAPIError
from hangar.client.func.session import ComputeSession

app = typer.Typer()

ACTIVE = (
    "PENDING,SCHEDULED,PREPARING,PULLING,RUNNING,RESTARTING,TERMINATING,RESIZING,SUSPENDED,ERROR"
)
RUNNING = "PREPARING,PULLING,RUNNING"
DEAD = "CANCELLED,TERMINATED"
ALL = f"{ACTIVE},{DEAD},BUILDING"
FORMAT_FIELDS = {
    "id": "session_id",
    "name": "name",
    "owner": "access_key",
    "status": "status",
    "status_info": "status_info",
    "created_at": "created_at",
    "last_updated": "status_changed",
    "result": "result",
    "image": "image",
    "type": "type",
    "task_id": "id",
    "tag": "tag",
    "occupied_slots": "occupied_slots",
    "used_memory": None,
    "max_used_memory": None,
    "cpu_using": "cpu_using",
}
DEFAULT_FORMAT = ["id", "name", "owner", "image", "type", "status", "status_info",
                  "last_updated", "result"]  # fmt: skip
DETAIL_FORMAT = [*DEFAULT_FORMAT, "tag", "created_at", "occupied_slots", "used_memory",
                 "max_used_memory", "cpu_using"]  # fmt: skip
PAGE = 100

Resources = Annotated[
    list[str], typer.Option("-r", "--resources", help="Resource slot, e.g. cpu=2, mem=1g.")
]
Mounts = Annotated[
    list[str], typer.Option("-m", "--mount", help="Mount a vfolder: NAME or NAME=/path.")
]
Envs = Annotated[list[str], typer.Option("-e", "--env", help="Environment variable K=V.")]


class RestartChoice(StrEnum):
    """A batch session's restart policy: when its command runs again."""

    NEVER = "never"
    ON_FAILURE = "on-failure"
    ALWAYS = "always"


STATS = "containers { live_stat last_stat }"


def _mem_stat(item: dict[str, Any]) -> dict[str, Any]:
    """The memory metric of the main container: live while running, else the last one."""
    for container in item.get("containers") or []:
        for key in ("live_stat", "last_stat"):
            raw = container.get(key)
            stats = json.loads(raw) if isinstance(raw, str) and raw else (raw or {})
            mem = stats.get("mem") if isinstance(stats, dict) else None
            if isinstance(mem, dict) and mem.get("current") is not None:
                return mem
    return {}


def _mib(value: Any) -> str | None:
    try:
        return f"{int(float(value)) / 2**20:.1f}" if value is not None else None
    except ValueError:
        return None


def _derived(item: dict[str, Any], name: str) -> Any:
    mem = _mem_stat(item)
    if name == "used_memory":
        return _mib(mem.get("current"))
    return _mib(mem.get("stats.max", mem.get("current")))


@app.command("ps")
def ps(
    running: Annotated[bool, typer.Option("--running", help="Preparing or running only.")] = False,
    dead: Annotated[bool, typer.Option("--dead", help="Cancelled or terminated only.")] = False,
    status: Annotated[
        str | None, typer.Option("-s", "--status", help="Status list or ALL.")
    ] = None,
    access_key: Annotated[str | None, typer.Option(help="Another keypair's (admin).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="All pages, not only the first 10.")] = False,
    id_only: Annotated[bool, typer.Option("--id-only", help="Print session ids only.")] = False,
    detail: Annotated[bool, typer.Option("--detail", help="More fields.")] = False,
    fmt: Annotated[
        str | None, typer.Option("-f", "--format", help="Fields, comma-separated.")
    ] = None,
) -> None:
    """List your compute sessions, most recently changed first."""
    statuses = (
        ALL if status == "ALL" else status or (RUNNING if running else DEAD if dead else ACTIVE)
    )
    names = (
        ["id"]
        if id_only
        else fmt.split(",")
        if fmt
        else DETAIL_FORMAT
        if detail
        else DEFAULT_FORMAT
    )
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in FORMAT_FIELDS]
    if unknown:
        fail(f"Unknown field(s) {', '.join(unknown)}; known: {', '.join(FORMAT_FIELDS)}.")
        raise typer.Exit(2)
    fields = list(dict.fromkeys(FORMAT_FIELDS[n] or STATS for n in names))
    items = run(_list_sessions(statuses, access_key, fields, 10**9 if all_ else 10))
    rows = [
        [_derived(item, n) if FORMAT_FIELDS[n] is None else item.get(FORMAT_FIELDS[n] or "")
         for n in names]
        for item in items
    ]  # fmt: skip
    if id_only and not OUTPUT.json:
        for row in rows:
            print(row[0])
        return
    if not rows and not OUTPUT.json:
        console.print("There are no matching sessions.")
        return
    show("Compute sessions", names, rows)


async def _list_sessions(
    statuses: str, access_key: str | None, fields: list[str], limit: int
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    async with open_session() as session:
        while len(items) < limit:
            page = await session.ComputeSession.paginated_list(
                statuses, access_key, fields=fields, page_offset=len(items),
                page_size=min(PAGE, limit - len(items)), order="-status_changed",
            )  # fmt: skip
            items.extend(page["items"])
            if not page["items"] or len(items) >= page["total_count"]:
                break
    return items


def _print_started(kern: ComputeSession) -> None:
    apps = ", ".join(str(p.get("name")) for p in kern.service_ports if isinstance(p, dict))
    if OUTPUT.json:
        print_json(
            {"session_id": str(kern.id), "name": kern.name, "status": kern.status,
             "created": kern.created, "service_ports": kern.service_ports}
        )  # fmt: skip
        return
    if kern.status == "RUNNING":
        verb = "created and ready" if kern.created else "already running (reused)"
        console.print(f"[green]✓[/] Session {kern.name} ({kern.id}) is {verb}.")
        if apps:
            console.print(f"This session provides the following app services: {apps}")
    elif kern.status in {*waiting.FAILED, "TIMEOUT"}:
        err_console.print(waiting.status_line(kern))
    else:
        console.print(waiting.status_line(kern), soft_wrap=True)


@app.command("start")
def start(
    image: str,
    name: Annotated[str | None, typer.Option("-t", "--name", help="Session name.")] = None,
    type_: Annotated[str, typer.Option("--type", help="interactive or batch.")] = "interactive",
    startup_command: Annotated[
        str | None, typer.Option("-c", "--startup-command", help="Batch command.")
    ] = None,
    enqueue_only: Annotated[bool, typer.Option("--enqueue-only")] = False,
    max_wait: Annotated[int, typer.Option("--max-wait", help="Seconds; 0 = no limit.")] = 0,
    no_reuse: Annotated[bool, typer.Option("--no-reuse")] = False,
    env: Envs = [],  # noqa: B006
    mount: Mounts = [],  # noqa: B006
    resources: Resources = [],  # noqa: B006
    tag: Annotated[str | None, typer.Option("--tag")] = None,
    scaling_group: Annotated[str | None, typer.Option("--scaling-group")] = None,
    group: Annotated[str | None, typer.Option("-g", "--group")] = None,
    domain: Annotated[str | None, typer.Option("-d", "--domain")] = None,
    bootstrap_script: Annotated[Path | None, typer.Option("--bootstrap-script")] = None,
    depends: Annotated[list[str], typer.Option("--depends", help="Session to wait for.")] = [],  # noqa: B006
    callback_url: Annotated[str | None, typer.Option("--callback-url")] = None,
    owner: Annotated[str | None, typer.Option("-o", "--owner", help="Owner access key.")] = None,
    restart: Annotated[
        RestartChoice | None,
        typer.Option("--restart", help="Run a batch command again when it ends."),
    ] = None,
) -> None:
    """Start a compute session without running code (see `hangar app` to use it)."""
    mounts, mount_map = parse_mounts(mount)
    script = bootstrap_script.read_text() if bootstrap_script else None
    name = name or f"pysdk-{secrets.token_hex(5)}"

    async def main() -> None:
        async with open_session() as session:
            create = session.ComputeSession.get_or_create(
                image, name=name, type_=type_, startup_command=startup_command,
                enqueue_only=enqueue_only, max_wait=max_wait, no_reuse=no_reuse,
                envs=parse_pairs(env, "environment variable"), mounts=mounts,
                mount_map=mount_map, resources=parse_pairs(resources, "resource"), tag=tag,
                scaling_group=scaling_group, group_name=group, domain_name=domain,
                bootstrap_script=script, dependencies=depends or None,
                callback_url=callback_url, owner_access_key=owner,
                restart_policy=restart.value if restart else None,
            )  # fmt: skip
            try:
                kern = await waiting.wait_for_start(
                    create, image, quiet=OUTPUT.json,
                    probe=lambda: waiting.pending_reason(session, name),
                )  # fmt: skip
            except asyncio.CancelledError:  # Ctrl+C
                await waiting.after_interrupt(session, name, remove=False)
                raise
            if kern.status != "RUNNING":
                kern.status_info = await waiting.failure_reason(session, kern)
            _print_started(kern)
            if kern.status in waiting.FAILED:
                raise typer.Exit(1)

    run(main())


@app.command("start-template")
def start_template(
    template_id: str,
    name: Annotated[str | None, typer.Option("-t", "--name", help="Session name.")] = None,
    image: Annotated[str | None, typer.Option("--image", help="Override the image.")] = None,
    enqueue_only: Annotated[bool, typer.Option("--enqueue-only")] = False,
    max_wait: Annotated[int, typer.Option("--max-wait")] = 0,
    no_reuse: Annotated[bool, typer.Option("--no-reuse")] = False,
    env: Envs = [],  # noqa: B006
    mount: Mounts = [],  # noqa: B006
    resources: Resources = [],  # noqa: B006
) -> None:
    """Start a compute session from a session template (options override it)."""
    from hangar.client.utils import undefined

    mounts, mount_map = parse_mounts(mount)
    overrides: dict[str, Any] = {
        "image": image or undefined,
        "envs": parse_pairs(env, "environment variable") or undefined,
        "mounts": mounts or undefined,
        "mount_map": mount_map or undefined,
        "resources": parse_pairs(resources, "resource") or undefined,
    }

    async def main() -> None:
        async with open_session() as session:
            create = session.ComputeSession.create_from_template(
                template_id, name=name or undefined, enqueue_only=enqueue_only,
                max_wait=max_wait, no_reuse=no_reuse, **overrides,
            )  # fmt: skip
            kern = await waiting.wait_for_start(create, template_id, quiet=OUTPUT.json)
            if kern.status != "RUNNING":
                kern.status_info = await waiting.failure_reason(session, kern)
            _print_started(kern)
            if kern.status in waiting.FAILED:
                raise typer.Exit(1)

    run(main())


@app.command("rm")
def rm(
    sessions: Annotated[list[str], typer.Argument(help="Session names or ids.")],
    forced: Annotated[bool, typer.Option("-f", "--forced", help="Force (admin).")] = False,
    stats: Annotated[bool, typer.Option("-s", "--stats", help="Print final statistics.")] = False,
    owner: Annotated[str | None, typer.Option("-o", "--owner")] = None,
) -> None:
    """Terminate sessions (pending ones are cancelled)."""

    async def main() -> int:
        failures, results = 0, []
        async with open_session() as session:
            for ref in sessions:
                try:
                    answer = await session.ComputeSession(ref, owner).destroy(forced=forced)
                except BackendAPIError as exc:
                    failures += 1
                    fail(f"{ref}: {describe(exc)}")
                    continue
                stat = (answer or {}).get("stats") or {}
                results.append({"session": ref, "stats": stat})
                if not OUTPUT.json:
                    outcome = "cancelled" if stat.get("status") == "cancelled" else "terminated"
                    console.print(f"[green]✓[/] Session {ref} {outcome}.")
                    if stats:
                        _print_stats(stat)
        if OUTPUT.json:
            print_json({"sessions": results, "failed": failures})
        return failures

    if run(main()):
        raise typer.Exit(1)


def _print_stats(stat: dict[str, Any]) -> None:
    rows = [
        (k, v.get("current"), v.get("unit_hint"))
        for k, v in stat.items() if isinstance(v, dict)
    ]  # fmt: skip
    if rows:
        show("Statistics", ["metric", "value", "unit"], rows)
    else:
        console.print("Statistics are not available.")


@app.command("events")
def events(
    session_ref: Annotated[str, typer.Argument(metavar="SESSION", help="Name or id.")],
    scope: Annotated[str, typer.Option(help="*, session or kernel.")] = "*",
    owner: Annotated[str | None, typer.Option("-o", "--owner")] = None,
    until_end: Annotated[
        bool, typer.Option("--until-end", help="Stop when the session ends.")
    ] = False,
) -> None:
    """Print the lifecycle events of a session as they happen (Ctrl+C to stop)."""
    final = {"session_terminated", "session_cancelled", "session_success", "session_failure"}

    async def main() -> None:
        async with open_session() as session:
            kern = _session_ref(session, session_ref, owner)
            async with kern.listen_events(scope) as stream:  # type: ignore[arg-type]
                err_console.print(f"Listening to the events of {session_ref} (Ctrl+C to stop).")
                async for event in stream:
                    data = json.loads(event.data) if event.data else {}
                    if OUTPUT.json:
                        print(json.dumps({"event": event.event, "data": data}), flush=True)
                    else:
                        console.print(f"[bold]{event.event}[/] {data}")
                    if until_end and event.event in final:
                        return

    run(main())


def _session_ref(session: AsyncSession, ref: str, owner: str | None) -> ComputeSession:
    import uuid

    try:
        return session.ComputeSession.from_session_id(uuid.UUID(ref))
    except ValueError:
        return session.ComputeSession(ref, owner)


@app.command("logs")
def logs(session_ref: Annotated[str, typer.Argument(metavar="SESSION")]) -> None:
    """Print the console log of a session."""

    async def main() -> None:
        async with open_session() as session:
            result = await session.ComputeSession(session_ref).get_logs()
        text = (result or {}).get("result", {}).get("logs", "")
        if OUTPUT.json:
            print_json({"session": session_ref, "logs": text})
        else:
            print(text, end="" if text.endswith("\n") else "\n")

    run(main())


@app.command("upload")
def upload(
    session_ref: Annotated[str, typer.Argument(metavar="SESSION")],
    files: Annotated[list[Path], typer.Argument(help="Local files.")],
    basedir: Annotated[Path | None, typer.Option("-b", "--basedir")] = None,
) -> None:
    """Upload files into the session's /home/work (paths relative to the base directory)."""

    async def main() -> None:
        async with open_session() as session:
            await session.ComputeSession(session_ref).upload(
                files, basedir=basedir, show_progress=not OUTPUT.json
            )
        done(f"Uploaded {len(files)} file(s).", {"files": [str(f) for f in files]})

    run(main())


@app.command("download")
def download(
    session_ref: Annotated[str, typer.Argument(metavar="SESSION")],
    files: Annotated[list[str], typer.Argument(help="Paths in the session.")],
    dest: Annotated[Path, typer.Option("--dest", help="Local directory.")] = Path("."),
) -> None:
    """Download files from the session's /home/work."""

    async def main() -> None:
        async with open_session() as session:
            result = await session.ComputeSession(session_ref).download(
                files, dest=dest, show_progress=not OUTPUT.json
            )
        names = result["file_names"]
        done(f"Downloaded {', '.join(names)} to {dest}.", {"files": names})

    run(main())


@app.command("ls")
def ls(
    session_ref: Annotated[str, typer.Argument(metavar="SESSION")],
    path: Annotated[str, typer.Argument(help="Directory in the session.")] = ".",
) -> None:
    """List files in a session's directory."""

    async def main() -> None:
        async with open_session() as session:
            result = await session.ComputeSession(session_ref).list_files(path)
        if result.get("errors"):
            fail(str(result["errors"]))
            raise typer.Exit(1)
        entries = json.loads(result.get("files") or "[]")
        rows = [(e["filename"], e["size"], e["mode"], _when(e.get("mtime"))) for e in entries]
        show(f"Files in {result.get('abspath', path)}", ["name", "size", "mode", "modified"], rows)

    run(main())


def _when(epoch: float | None) -> str | None:
    from datetime import datetime

    return datetime.fromtimestamp(epoch).isoformat(" ", "seconds") if epoch else None


@app.command("app")
def app_proxy(
    session_ref: Annotated[str, typer.Argument(metavar="SESSION")],
    app_name: Annotated[str, typer.Argument(metavar="APP", help="jupyter, ttyd, sshd, ...")],
    bind: Annotated[str, typer.Option("-b", "--bind", help="[HOST:]PORT")] = "127.0.0.1:8080",
    arg: Annotated[list[str], typer.Option("--arg", help="App argument '--opt value'.")] = [],  # noqa: B006
    env: Envs = [],  # noqa: B006
) -> None:
    """Bind a session's app service to a local port (Ctrl+C to stop)."""
    from hangar.cli.proxy import serve_app

    host, _, port_text = bind.rpartition(":")
    if not port_text.isdigit():
        fail(f"Invalid bind address {bind!r}: expected [HOST:]PORT.")
        raise typer.Exit(2)
    run(serve_app(session_ref, app_name, host or "127.0.0.1", int(port_text), arg,
                  parse_pairs(env, "environment variable")))  # fmt: skip
