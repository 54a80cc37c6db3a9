"""The zero-copy send extension on a real uvicorn (httptools, as ``hangar server`` runs it):
offered there and not on h11, byte-exact ranges, keep-alive intact after a zero-copy body,
and a file shorter than promised breaks only its own connection."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from hangar.api import zerocopy
from hangar.api.zerocopy import ZeroCopySend
from hangar.http_protocol import HttpLimits, guarded_protocol

SIZE = 24 << 20
HANGAR_HTTP = guarded_protocol(HttpLimits())  # uvicorn's httptools as hangar server runs it


def file_app(path: Path) -> Callable[[Scope, Receive, Send], object]:
    """GET /offered -> "yes"/"no"; GET /?offset=O&count=N&length=L -> L declared, N sent."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/offered":
            body = b"yes" if zerocopy.offered(scope) else b"no"
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", str(len(body)).encode())]})  # fmt: skip
            await send({"type": "http.response.body", "body": body})
            return
        query = dict(p.split("=") for p in scope["query_string"].decode().split("&"))
        offset, count, length = int(query["offset"]), int(query["count"]), int(query["length"])
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(length).encode())]})  # fmt: skip
        with path.open("rb", buffering=0) as file:
            await send({"type": zerocopy.EXTENSION, "file": file, "offset": offset,
                        "count": count, "more_body": False})  # fmt: skip

    return app


@asynccontextmanager
async def serving(app: object, http: str | type[asyncio.Protocol]) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    config = uvicorn.Config(ZeroCopySend(app), http=http, log_config=None,  # type: ignore[arg-type]
                            lifespan="off", access_log=False)  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, bytes]:
    content = os.urandom(SIZE)
    path = tmp_path / "data.bin"
    path.write_bytes(content)
    return path, content


async def test_offered_on_httptools_only(data: tuple[Path, bytes]) -> None:
    app = file_app(data[0])
    for http, expected in (("httptools", "yes"), (HANGAR_HTTP, "yes"), ("h11", "no")):
        async with serving(app, http) as url, httpx.AsyncClient() as client:
            assert (await client.get(url + "/offered")).text == expected


async def test_ranges_are_byte_exact_and_the_connection_is_reused(
    data: tuple[Path, bytes],
) -> None:
    path, content = data
    async with serving(file_app(path), HANGAR_HTTP) as url, httpx.AsyncClient() as client:
        for offset, count in ((0, SIZE), (12345, 7_000_001), (SIZE - 1, 1)):
            target = f"{url}/?offset={offset}&count={count}&length={count}"
            response = await client.get(target, timeout=60)
            assert response.content == content[offset : offset + count]
        # the same keep-alive connection carried all of them, and still works
        assert (await client.get(url + "/offered")).text == "yes"


async def test_a_short_file_breaks_only_its_own_connection(data: tuple[Path, bytes]) -> None:
    path, _ = data
    async with serving(file_app(path), HANGAR_HTTP) as url:
        async with httpx.AsyncClient() as client:
            # promises more than the file holds: the reader sees a broken body, not a short one
            target = f"{url}/?offset={SIZE - 100}&count=1000&length=1000"
            with pytest.raises(httpx.HTTPError):
                await client.get(target, timeout=30)
        async with httpx.AsyncClient() as client:
            assert (await client.get(url + "/offered")).text == "yes"
