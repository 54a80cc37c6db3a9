"""The dispatcher's table on its own: which entry serves a path."""

from __future__ import annotations

import pytest
from starlette.types import Receive, Scope, Send

from hangar.api.common.mounts import Mount, MountTable


async def nothing(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("not called")


TABLE = MountTable(
    [
        Mount.root("root", nothing),
        Mount.prefix("/func", "session", nothing),
        Mount.segment(r"v\d+\.\d+|[a-z]+\.[a-z]+", "dotted", nothing),
        Mount.exact("/healthz", "ops", nothing),
    ]
)


@pytest.mark.parametrize(
    ("kind", "path", "face"),
    [
        ("http", "/", "root"),
        ("http", "/folders/x/files", "root"),
        ("http", "/func", "session"),
        ("http", "/func/folders", "session"),
        ("websocket", "/func/stream/session/x/execute", "session"),
        ("http", "/function", "root"),  # a prefix is a whole segment
        ("http", "/auth.login", "dotted"),
        ("http", "/v2.31/tasks.create", "dotted"),
        ("http", "/auth", "root"),
        ("http", "/healthz", "ops"),
        ("http", "/healthz/x", "root"),
        ("websocket", "/healthz", "root"),  # exact entries serve HTTP only
    ],
)
def test_resolve(kind: str, path: str, face: str) -> None:
    assert TABLE.resolve(kind, path).face == face


def test_a_prefix_is_mounted_once() -> None:
    with pytest.raises(ValueError, match="twice"):
        MountTable(
            [
                Mount.root("a", nothing),
                Mount.prefix("/v2", "b", nothing),
                Mount.prefix("/v2/", "c", nothing),
            ]
        )


def test_exactly_one_root() -> None:
    with pytest.raises(ValueError, match="one root"):
        MountTable([Mount.prefix("/v2", "b", nothing)])
    with pytest.raises(ValueError, match="one root"):
        MountTable([Mount.root("a", nothing), Mount.root("b", nothing)])


def test_a_prefix_is_one_segment() -> None:
    with pytest.raises(ValueError, match="one path segment"):
        Mount.prefix("/v2/pods", "b", nothing)
