"""The Backend.AI manager API face (v6.20220315)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.datastructures import State
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Route, WebSocketRoute
from starlette.routing import Router as StarletteRouter
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from hangar.api.bai.auth import SESSION_MODE, BaiAuth
from hangar.api.bai.errors import (
    EXCEPTION_HANDLERS,
    METHOD_NOT_ALLOWED,
    URL_NOT_FOUND,
    deny_socket,
    error_response,
    problem_response,
    render_error,
)
from hangar.api.bai.graphql import routes as graphql
from hangar.api.bai.params import NUL_MESSAGE
from hangar.api.bai.routes import (
    auth,
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
from hangar.api.bai.routing import FaceRoute
from hangar.core.errors import HangarError, InvalidRequest
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
    )
    routes = [route for module in modules for route in module.router.routes]
    return BaiAuth(FaceApp(routes, services), services)


def route_path(scope: Scope) -> str:
    """The path below ``root_path`` (the ``/func`` prefix of session mode), as Starlette's
    routes match it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path


class FaceApp:
    """The face's routes, served without a middleware stack.

    Static paths are one dict look-up; the others are matched in declaration order, as
    Starlette's router would. Handlers of :class:`FaceRoute` are called directly and every
    exception they raise becomes the face's problem+json; other routes (WebSockets) go
    through Starlette's router with the same exception handlers.
    """

    def __init__(self, routes: Sequence[BaseRoute], services: Services) -> None:
        self.state = State()
        self.state.services = services
        self.routes = list(routes)
        self.exception_handlers: tuple[dict[Any, Any], dict[int, Any]] = (EXCEPTION_HANDLERS, {})
        self.websockets = StarletteRouter(
            routes=[r for r in self.routes if isinstance(r, WebSocketRoute)]
        )
        self.static: dict[str, dict[str, FaceRoute]] = {}
        for index, route in enumerate(self.routes):
            if not isinstance(route, FaceRoute) or route.param_convertors:
                continue
            earlier = [r for r in self.routes[:index] if isinstance(r, Route)]
            for method in route.methods or ():
                if any(
                    (r.methods is None or method in r.methods) and r.path_regex.match(route.path)
                    for r in earlier
                ):
                    continue  # an earlier pattern takes this method and path: declaration order
                self.static.setdefault(route.path, {}).setdefault(method, route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        scope["starlette.exception_handlers"] = self.exception_handlers
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            await _refuse(scope, receive, send, InvalidRequest(NUL_MESSAGE))
            return
        if scope["type"] != "http":
            await self.websockets(scope, receive, send)
            return
        path = route_path(scope)
        by_method = self.static.get(path)
        if by_method is not None:
            route = by_method.get(scope["method"])
            if route is not None:
                scope["path_params"] = {}
                await self._serve(route, scope, receive, send)
                return
        partial = False
        for candidate in self.routes:
            match, child = candidate.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                if isinstance(candidate, FaceRoute):
                    await self._serve(candidate, scope, receive, send)
                else:
                    await candidate.handle(scope, receive, send)
                return
            partial = partial or match is Match.PARTIAL
        problem = METHOD_NOT_ALLOWED if partial else URL_NOT_FOUND
        await problem_response(*problem)(scope, receive, send)

    @staticmethod
    async def _serve(route: FaceRoute, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await route.respond(request)
        except Exception as exc:
            response = await error_response(request, exc)
            exc.__traceback__ = None  # reused exception instances must not grow tracebacks
        await response(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: HangarError) -> None:
    """A problem response, or for a WebSocket a denial (a close where the server has none)."""
    if scope["type"] == "http":
        await render_error(exc)(scope, receive, send)
        return
    await deny_socket(WebSocket(scope, receive, send), exc)


class SessionMode:
    """Serves the face under ``/func`` with cookie authentication instead of signatures."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[SESSION_MODE] = True
        scope["root_path"] = scope.get("root_path", "") + "/func"
        await self.app(scope, receive, send)
