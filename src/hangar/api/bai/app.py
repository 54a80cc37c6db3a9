"""The Backend.AI manager API face (v6.20220315)."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from hangar.api.bai.auth import SESSION_MODE, check_version
from hangar.api.bai.errors import install_error_handlers
from hangar.api.bai.routes import auth, manager, root, server
from hangar.core.services import Services


def create_bai_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="Hangar — Backend.AI API",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(check_version)],
    )
    app.state.services = services
    install_error_handlers(app)
    for module in (root, auth, server, manager):
        app.include_router(module.router)
    return app


class SessionMode:
    """Serves the face under ``/func`` with cookie authentication instead of signatures."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope[SESSION_MODE] = True
        await self.app(scope, receive, send)
