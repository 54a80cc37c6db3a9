"""The Backend.AI manager API face (v6.20220315)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from hangar.api.bai.auth import SESSION_MODE, BaiAuth
from hangar.api.bai.errors import BAI_PROBLEMS
from hangar.api.bai.graphql import routes as graphql
from hangar.api.bai.routes import (
    auth,
    etcd_config,
    events,
    manager,
    resource,
    root,
    server,
    session,
    session_files,
    storage_proxy,
    stream,
    stream_apps,
    template,
    vfolder,
    vfolder_files,
)
from hangar.api.bai.routes import dotfiles as dotfile_routes
from hangar.api.common.routing import FaceApp
from hangar.core.services import Services


def create_bai_app(services: Services) -> ASGIApp:
    modules = (
        root,
        auth,
        server,
        manager,
        stream,
        stream_apps,
        events,
        session_files,
        template,
        vfolder,
        vfolder_files,
        storage_proxy,
        dotfile_routes,
        session,
        graphql,
        resource,
        etcd_config,
    )
    routes = [route for module in modules for route in module.router.routes]
    return BaiAuth(FaceApp(routes, services, BAI_PROBLEMS), services)


class SessionMode:
    """Serves the face under ``/func`` with cookie authentication instead of signatures."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[SESSION_MODE] = True
        scope["root_path"] = scope.get("root_path", "") + "/func"
        await self.app(scope, receive, send)
