"""``hangar app``: a local TCP port relayed to a session's app over WebSockets (one per
accepted connection)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from typing import Any

import typer

from hangar.cli.common import OUTPUT, open_session, print_json
from hangar.cli.render import console, fail
from hangar.client import AsyncSession, Request, WebSocketResponse


def _arguments(args: Sequence[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for arg in args:
        key, _, value = arg.strip().partition(" ")
        value = value.strip()
        if key in parsed:
            previous = parsed[key]
            parsed[key] = [*(previous if isinstance(previous, list) else [previous]), value]
        else:
            parsed[key] = value or None
    return parsed


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 ws: WebSocketResponse) -> None:  # fmt: skip
    async def upstream() -> None:
        while data := await reader.read(65536):
            await ws.send_bytes(data)

    async def downstream() -> None:
        async for message in ws:
            data = message.data
            writer.write(data if isinstance(data, bytes) else data.encode())
            await writer.drain()

    tasks = [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def serve_app(
    ref: str, app_name: str, host: str, port: int, args: Sequence[str], envs: dict[str, str]
) -> None:
    async with open_session() as session:
        apps = await session.ComputeSession(ref).stream_app_info() or []
        app = next((a for a in apps if a.get("name") == app_name), None)
        if app is None:
            names = ", ".join(str(a.get("name")) for a in apps) or "none"
            fail(f'Session {ref} has no app "{app_name}" (available: {names}).')
            raise typer.Exit(1)
        params: dict[str, Any] = {"app": app_name}
        if args:
            params["arguments"] = json.dumps(_arguments(args))
        if envs:
            params["envs"] = json.dumps(envs)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await _proxy_one(session, ref, params, reader, writer)
            except asyncio.CancelledError:
                pass  # Ctrl+C with connections open: asyncio would report a cancelled handler
            finally:
                writer.close()

        try:
            server = await asyncio.start_server(handle, host, port)
        except OSError as exc:
            fail(f"Cannot listen on {host}:{port}: {exc.strerror}")
            raise typer.Exit(1) from None
        protocol = "http" if app.get("protocol") == "http" else "tcp"
        template = str(app.get("url_template") or "{protocol}://{host}:{port}")
        url = template.format(protocol=protocol, host=host, port=port)
        if OUTPUT.json:
            print_json({"session": ref, "app": app_name, "url": url})
        else:
            console.print(
                f'A local proxy to the application "{app_name}" provided by the session '
                f'"{ref}" is available at:\n{url}\n(Ctrl+C to stop it.)',
                soft_wrap=True,
            )
        async with server:
            await server.serve_forever()


async def _proxy_one(
    session: AsyncSession,
    ref: str,
    params: dict[str, Any],
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    rqst = Request("GET", f"/stream/session/{ref}/tcpproxy", params=params, session=session)
    try:
        async with rqst.connect_websocket() as ws:
            await _relay(reader, writer, ws)
    except Exception as exc:  # one failed connection must not stop the proxy
        fail(f"Connection to {params['app']} failed: {exc}")
