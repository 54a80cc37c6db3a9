"""Plain Starlette routes for the face: handlers take the request and return JSON-able data
or a Response. (FastAPI's dependency machinery costs more per request than our whole
signature check, and these routes parse their own parameters anyway.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

Handler = Callable[[Request], Awaitable[Any]]


class Router:
    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.routes: list[BaseRoute] = []

    def route(
        self, path: str, methods: list[str], status_code: int = 200
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                result = await handler(request)
                if isinstance(result, Response):
                    return result
                return JSONResponse(result, status_code=status_code)

            endpoint.__name__ = handler.__name__
            self.routes.append(Route(self.prefix + path, endpoint, methods=methods))
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
