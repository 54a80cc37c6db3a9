"""The web UI's ASGI app, mounted under ``/ui`` by api/app.py, and the door at ``/``.

``/`` stays the Backend.AI face's (its clients ask it for the API version); a browser that
asks for a page there (``Accept: text/html``, no API headers) is sent on to ``/ui/``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from hangar.core.services import Services
from hangar.ui import (
    account,
    admin,
    cloud,
    cloud_endpoints,
    experiments,
    experiments_actions,
    experiments_task,
    folders,
    home,
    queues,
    sessions,
    sessions_apps,
    terminal,
    terminal_files,
)
from hangar.ui.assets import STATIC_DIR, Vendor
from hangar.ui.context import Ui, find_viewer, ui_of

PREFIX = "/ui"
API_HEADERS = (b"authorization", b"x-backendai-version", b"x-backendai-date", b"date")


async def vendor_file(request: Request) -> Response:
    path = ui_of(request).vendor.path(request.path_params["name"])
    if path is None:
        return Response("not installed: run `npm ci --prefix src/hangar/ui`", 404)
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})


async def not_found(request: Request, exc: Exception) -> Response:
    ui = ui_of(request)
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    message = "No such page." if status == 404 else "This request is not allowed here."
    return ui.error(request, status, message, await find_viewer(request))


def ui_routes() -> list[BaseRoute]:
    return [
        *home.routes,
        *account.routes,
        *sessions.routes,
        *experiments.routes,
        *experiments_task.routes,
        *experiments_actions.routes,
        *queues.routes,
        *folders.routes,
        *terminal.routes,
        *sessions_apps.routes(),
        *terminal_files.routes,
        *admin.routes,
        *cloud.routes,
        *cloud_endpoints.endpoint_routes,
        Route("/vendor/{name}", vendor_file, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]


def create_ui_app(services: Services, vendor: Vendor | None = None) -> Starlette:
    vendor = vendor or Vendor()
    vendor.warn_if_missing()
    app = Starlette(
        routes=[Mount(PREFIX, routes=ui_routes())],
        exception_handlers={404: not_found, 405: not_found},
    )
    app.state.ui = Ui(services, PREFIX, vendor)
    app.state.services = services
    return app


class RootDoor:
    """``GET /``: browsers go to the UI, API clients to the face that owns ``/``."""

    def __init__(self, api: ASGIApp) -> None:
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or ())
        wants_page = b"text/html" in headers.get(b"accept", b"")
        if (
            scope.get("method") == "GET"
            and wants_page
            and not any(name in headers for name in API_HEADERS)
        ):
            await RedirectResponse(PREFIX + "/", status_code=302)(scope, receive, send)
            return
        await self.api(scope, receive, send)
