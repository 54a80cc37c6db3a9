"""``hangar config``, ``login``, ``logout``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hangar.cli.common import OUTPUT, done, make_config, open_session, print_json, run, show
from hangar.cli.render import fail
from hangar.client import AsyncSession
from hangar.client.config import client_config_path

app = typer.Typer()


@app.command("config")
def config() -> None:
    """Show the active client configuration and the server's version."""
    settings = make_config()

    async def main() -> dict[str, Any]:
        async with AsyncSession(config=settings) as session:
            server = await session.ComputeSession.hello()
            return {
                "endpoint": str(settings.endpoint),
                "endpoints": [str(e) for e in settings.endpoints],
                "endpoint_type": settings.endpoint_type,
                "server_version": server.get("manager") if isinstance(server, dict) else None,
                "api_version": "v{}.{}".format(*session.api_version),
                "domain": settings.domain,
                "group": settings.group,
                "access_key": settings.access_key,
                "secret_key": "(set)" if settings.secret_key else "(not set)",
                "vfolder_mounts": list(settings.vfolder_mounts),
                "config_file": str(client_config_path()),
            }

    info = run(main())
    if OUTPUT.json:
        print_json(info)
    else:
        show("Client configuration", ["setting", "value"], list(info.items()))


@app.command("login")
def login(
    username: Annotated[str, typer.Option(prompt="Username", help="Your email.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
) -> None:
    """Log in to a session-mode endpoint (BACKEND_ENDPOINT_TYPE=session)."""

    async def main() -> dict[str, Any]:
        async with open_session() as session:
            if session.config.endpoint_type != "session":
                fail("Login is only for session-mode endpoints (BACKEND_ENDPOINT_TYPE=session).")
                raise typer.Exit(2)
            return await session.Auth.login(username, password)

    result = run(main())
    if not result.get("authenticated"):
        details = (result.get("data") or {}).get("details") or "wrong username or password"
        fail(f"Login failed: {details}")
        raise typer.Exit(1)
    done("Login succeeded.", {"data": result.get("data")})


@app.command("logout")
def logout() -> None:
    """Log out of a session-mode endpoint."""

    async def main() -> None:
        async with open_session() as session:
            await session.Auth.logout()

    run(main())
    done("Logout done.")
