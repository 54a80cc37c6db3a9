"""Plain Starlette routes for a face: handlers take the request and return JSON-able data
or a Response. (FastAPI's dependency machinery costs more per request than our whole
signature check, and these routes parse their own parameters anyway.)

:class:`FaceApp` serves one face's routes; the face's :class:`Problems` words its errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, WebSocketRoute
from starlette.routing import Router as StarletteRouter
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from hangar.api.common.errors import Problems, error_response, exception_handlers, refuse
from hangar.api.common.params import NUL_MESSAGE
from hangar.api.common.responses import FaceJSONResponse
from hangar.core.errors import InvalidRequest
from hangar.core.services import Services

Handler = Callable[[Request], Awaitable[Any]]


class FaceRoute(Route):
    """A route whose handler the face calls directly (see :class:`FaceApp`);
    as a plain Starlette route it still works, through Starlette's own wrapper."""

    def __init__(self, path: str, handler: Handler, methods: list[str], status_code: int) -> None:
        self.handler = handler
        self.status_code = status_code

        async def endpoint(request: Request) -> Response:
            return await self.respond(request)

        endpoint.__name__ = handler.__name__
        super().__init__(path, endpoint, methods=methods)

    async def respond(self, request: Request) -> Response:
        result = await self.handler(request)
        if isinstance(result, Response):
            return result
        return FaceJSONResponse(result, status_code=self.status_code)


class Router:
    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.routes: list[BaseRoute] = []

    def route(
        self, path: str, methods: list[str], status_code: int = 200
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(FaceRoute(self.prefix + path, handler, methods, status_code))
            return handler

        return register

    def websocket(
        self, path: str
    ) -> Callable[[Callable[[WebSocket], Awaitable[None]]], Callable[[WebSocket], Awaitable[None]]]:
        def register(
            handler: Callable[[WebSocket], Awaitable[None]],
        ) -> Callable[[WebSocket], Awaitable[None]]:
            self.routes.append(WebSocketRoute(self.prefix + path, handler))
            return handler

        return register

    def get(self, path: str, status_code: int = 200) -> Callable[[Handler], Handler]:
        return self.route(path, ["GET"], status_code)

    def post(self, path: str, status_code: int = 200) -> Callable[[Handler], Handler]:
        return self.route(path, ["POST"], status_code)

    def put(self, path: str, status_code: int = 200) -> Callable[[Handler], Handler]:
        return self.route(path, ["PUT"], status_code)

    def patch(self, path: str, status_code: int = 200) -> Callable[[Handler], Handler]:
        return self.route(path, ["PATCH"], status_code)

    def delete(self, path: str, status_code: int = 200) -> Callable[[Handler], Handler]:
        return self.route(path, ["DELETE"], status_code)


def no_content() -> Response:
    return Response(status_code=204)


def route_path(scope: Scope) -> str:
    """The path below ``root_path`` (a prefix the face serves under, such as Backend.AI's
    ``/func``), as Starlette's routes match it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path


class FaceApp:
    """A face's routes, served without a middleware stack.

    Static paths are one dict look-up; the others are matched in declaration order, as
    Starlette's router would. Handlers of :class:`FaceRoute` are called directly and every
    exception they raise becomes the face's error response (``problems``); other routes
    (WebSockets) go through Starlette's router with the same exception handlers.
    """

    def __init__(self, routes: Sequence[BaseRoute], services: Services, problems: Problems) -> None:
        self.state = State()
        self.state.services = services
        self.problems = problems
        self.routes = list(routes)
        self.exception_handlers: tuple[dict[Any, Any], dict[int, Any]] = (
            exception_handlers(problems),
            {},
        )
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
            await refuse(self.problems, scope, receive, send, InvalidRequest(NUL_MESSAGE))
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
        problems = self.problems
        response = problems.method_not_allowed() if partial else problems.url_not_found()
        await response(scope, receive, send)

    async def _serve(self, route: FaceRoute, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await route.respond(request)
        except Exception as exc:
            response = await error_response(self.problems, request, exc)
            exc.__traceback__ = None  # reused exception instances must not grow tracebacks
        await response(scope, receive, send)
