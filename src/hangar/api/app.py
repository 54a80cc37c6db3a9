"""The whole HTTP surface of ``hangar server``: every face, health and metrics."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from hangar import __version__
from hangar.api.bai.app import SessionMode, create_bai_app
from hangar.api.observability import RequestContext, metrics
from hangar.core.services import Services


def create_app(services: Services) -> ASGIApp:
    """Compose the faces. The Backend.AI face owns the root path space; its console
    (cookie) variant lives under ``/func``."""
    bai = create_bai_app(services)

    async def healthz(_: Request) -> Response:
        try:
            await services.manager.status()
        except Exception as exc:  # the database is what can fail here
            return JSONResponse({"status": "unhealthy", "error": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__})

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            Mount("/func", SessionMode(bai)),
            Mount("", bai),
        ]
    )
    app.state.services = services
    return RequestContext(app)
