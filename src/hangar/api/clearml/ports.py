"""ClearML's conventional ports (8008 API, 8080 web, 8081 files), served when configured:
the SDK given only ``CLEARML_API_HOST=http://host:8008`` derives the other two from it.

The API and web ports serve the whole app, as ``HANGAR_PORT`` does. The files port serves
the file server at its root: its requests are the file server's under ``/files``.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from hangar.settings import Settings

FILES_PREFIX = "/files"


@dataclass(frozen=True, slots=True)
class ClearmlPort:
    port: int
    setting: str  # the environment variable that asked for it
    role: str


def clearml_ports(settings: Settings) -> list[ClearmlPort]:
    """The extra ports the settings ask for, in the order api, web, files."""
    tracking = settings.tracking
    wanted = [
        ClearmlPort(tracking.clearml_api_port, "HANGAR_CLEARML_API_PORT", "api_server"),
        ClearmlPort(tracking.clearml_web_port, "HANGAR_CLEARML_WEB_PORT", "web_server"),
        ClearmlPort(tracking.clearml_files_port, "HANGAR_CLEARML_FILES_PORT", "files_server"),
    ]
    return [port for port in wanted if port.port]


class FilesOnPort:
    """Requests that arrive on ``port`` go to the file server (its prefix added)."""

    def __init__(self, app: ASGIApp, port: int) -> None:
        self.app = app
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if self.port and scope["type"] == "http" and server and server[1] == self.port:
            path = scope["path"]
            raw = scope.get("raw_path") or path.encode()
            scope = {**scope, "path": FILES_PREFIX + path, "raw_path": FILES_PREFIX.encode() + raw}
        await self.app(scope, receive, send)
