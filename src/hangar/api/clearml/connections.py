"""The ClearML faces answer each request on a connection of its own, as ClearML's server does.

The official SDK forks its reporting process after ``Task.init`` has used its ``requests``
session: parent and child then hold the same kept-alive socket in their copies of the pool and
write requests on it at the same time. On the wire one request's head lands inside another's
body, or each process reads the other's answer; uvicorn logs "Invalid HTTP request received"
and the SDK drops a whole batch of events. ClearML's own API and file servers (gunicorn sync
workers) close every connection after its response, so the SDK never meets a shared socket
there. :func:`close_after_response` does the same here: every response of the wrapped app says
``connection: close`` and uvicorn closes the connection once it is sent, so a connection
carries one request and no socket outlives it into a fork. A new loopback or LAN connection
costs well under a millisecond; the SDK's batches are megabytes.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CLOSE = (b"connection", b"close")


def close_after_response(app: ASGIApp) -> ASGIApp:
    """``app`` with ``connection: close`` on every HTTP response it sends."""

    async def closing(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"connection"
                ]
                message = {**message, "headers": [*headers, CLOSE]}
            await send(message)

        await app(scope, receive, send_closing)

    return closing


__all__ = ["close_after_response"]
