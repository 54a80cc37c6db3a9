"""The dispatcher's table: which face serves a path, decided by its first segment.

A face registers one :class:`Mount`: under a prefix (``/func``, ``/v2``, ``/ui``), by the shape
of the first segment (ClearML's ``/auth.login`` and ``/v2.31/tasks.create``), at one exact path
(operator endpoints, HTTP only), or as the root face that gets every other path. Resolving a
path costs a dict look-up or two; the shape patterns run only when no prefix matched.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send


class MountKind(Enum):
    ROOT = "root"
    PREFIX = "prefix"
    SEGMENT = "segment"
    EXACT = "exact"


@dataclass(frozen=True)
class Mount:
    """One entry of the table. ``face`` names it in the metrics (``face`` label)."""

    kind: MountKind
    face: str
    app: ASGIApp
    key: str = ""  # the prefix's first segment, or the exact path
    pattern: re.Pattern[str] | None = None

    @classmethod
    def root(cls, face: str, app: ASGIApp) -> Mount:
        """The face that serves every path no other entry takes."""
        return cls(MountKind.ROOT, face, app)

    @classmethod
    def prefix(cls, prefix: str, face: str, app: ASGIApp) -> Mount:
        """``prefix`` (one segment, ``/v2``) and every path below it; the face's app sees
        the whole path and sets its own ``root_path`` if it wants one."""
        segment = prefix.strip("/")
        if not segment or "/" in segment:
            raise ValueError(f"a prefix is one path segment: {prefix!r}")
        return cls(MountKind.PREFIX, face, app, key=segment)

    @classmethod
    def segment(cls, pattern: str, face: str, app: ASGIApp) -> Mount:
        """Paths whose first segment matches ``pattern`` in full."""
        return cls(MountKind.SEGMENT, face, app, pattern=re.compile(pattern))

    @classmethod
    def exact(cls, path: str, face: str, app: ASGIApp) -> Mount:
        """One path, HTTP only (a WebSocket to it goes where the other entries send it)."""
        return cls(MountKind.EXACT, face, app, key=path)


def first_segment(path: str) -> str:
    end = path.find("/", 1)
    return path[1:end] if end > 0 else path[1:]


class MountTable:
    """The mounts, indexed; :meth:`resolve` picks the one that serves a request."""

    def __init__(self, mounts: Sequence[Mount]) -> None:
        roots = [m for m in mounts if m.kind is MountKind.ROOT]
        if len(roots) != 1:
            raise ValueError(f"the table needs exactly one root face, got {len(roots)}")
        self.root = roots[0]
        self.exact: dict[str, Mount] = {}
        self.prefixes: dict[str, Mount] = {}
        self.segments = [m for m in mounts if m.kind is MountKind.SEGMENT]
        for mount in mounts:
            index = {MountKind.EXACT: self.exact, MountKind.PREFIX: self.prefixes}.get(mount.kind)
            if index is None:
                continue
            if mount.key in index:
                raise ValueError(f"{mount.key!r} is mounted twice")
            index[mount.key] = mount

    def resolve(self, scope_type: str, path: str) -> Mount:
        if scope_type == "http":
            mount = self.exact.get(path)
            if mount is not None:
                return mount
        segment = first_segment(path)
        mount = self.prefixes.get(segment)
        if mount is not None:
            return mount
        for mount in self.segments:
            assert mount.pattern is not None
            if mount.pattern.fullmatch(segment):
                return mount
        return self.root

    def face_of(self, path: str) -> str:
        """The face an HTTP request to ``path`` goes to (the metrics' label)."""
        return self.resolve("http", path).face


class Dispatch:
    """Sends each request to the app its mount names; other scopes (lifespan) go to the root."""

    def __init__(self, table: MountTable) -> None:
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            app = self.table.resolve(scope["type"], scope["path"]).app
        else:
            app = self.table.root.app
        await app(scope, receive, send)


class Endpoint:
    """A ``request -> response`` function as an ASGI app, for exact mounts."""

    def __init__(self, handler: Callable[[Request], Awaitable[Response]]) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handler(Request(scope, receive))
        await response(scope, receive, send)
