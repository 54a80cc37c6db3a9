"""Plain Starlette routes for the face: handlers take the request and return JSON-able data
or a Response. (FastAPI's dependency machinery costs more per request than our whole
signature check, and these routes parse their own parameters anyway.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from hangar.api.bai.responses import FaceJSONResponse

Handler = Callable[[Request], Awaitable[Any]]


class FaceRoute(Route):
    """A route whose handler the face calls directly (see ``hangar.api.bai.app.FaceApp``);
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
