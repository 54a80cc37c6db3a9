"""A real ``hangar server`` holds its own against raw-socket clients: heads that never end,
huge heads, thousands of header lines and one address opening too many connections are
cut off, while other clients and the official client carry on."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.integration.test_bai_official_client import probe
from tests.support.live import LiveServer

HEAD_TIMEOUT = 1.0
PER_CLIENT = 12


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[LiveServer]:
    """The HTTP layer does not depend on the database: one backend is enough."""
    server = LiveServer(
        home=tmp_path / "home",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'hangar.db'}",
        extra_env={
            "HANGAR_HTTP_HEADER_TIMEOUT_SECONDS": str(HEAD_TIMEOUT),
            "HANGAR_HTTP_MAX_CONNECTIONS_PER_CLIENT": str(PER_CLIENT),
        },
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def connect(server: LiveServer, source: str = "127.0.0.1") -> socket.socket:
    url = urlsplit(server.endpoint)
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(10)
    sock.connect((url.hostname or "", url.port or 80))
    return sock


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def one_response(sock: socket.socket) -> bytes:
    """One whole response on a kept-alive connection: its head, then Content-Length bytes.

    The head and the body may come in separate segments, so a single ``recv`` is not enough."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")[1:]
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-body: {data!r}"
        body += chunk
    assert len(body) == length, "more bytes than the response announced"
    return head + b"\r\n\r\n" + body


def rss_kib(server: LiveServer) -> int:
    assert server.proc is not None
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))


def healthy(server: LiveServer) -> bool:
    return httpx.get(server.endpoint + "/healthz", timeout=5).status_code == 200


def test_heads_that_never_end_are_closed_after_the_timeout(guarded: LiveServer) -> None:
    half = [connect(guarded) for _ in range(PER_CLIENT - 2)]
    for sock in half[1:]:  # the first one sends nothing at all
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    started = time.monotonic()
    answers = [answer(sock) for sock in half]
    took = time.monotonic() - started
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers
    assert HEAD_TIMEOUT * 0.8 < took < HEAD_TIMEOUT + 5
    for sock in half:
        sock.close()
    assert healthy(guarded)


def test_a_kept_alive_connection_idles_past_the_head_timeout(guarded: LiveServer) -> None:
    sock = connect(guarded)
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    sock.sendall(request)
    assert one_response(sock).startswith(b"HTTP/1.1 200 ")
    time.sleep(HEAD_TIMEOUT * 2)  # idle between requests: uvicorn's keep-alive timeout rules
    sock.sendall(request)
    assert one_response(sock).startswith(b"HTTP/1.1 200 ")
    sock.close()


def test_a_64_mib_header_is_refused_without_the_memory(guarded: LiveServer) -> None:
    before = rss_kib(guarded)
    sock = connect(guarded)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    chunk = b"a" * (1 << 20)
    try:
        for _ in range(64):
            sock.sendall(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused part-way: what we want
    got = answer(sock)
    sock.close()
    assert got == b"" or got.startswith(b"HTTP/1.1 431 "), got
    assert rss_kib(guarded) - before < 16 * 1024
    assert healthy(guarded)


def test_ten_thousand_headers_get_431(guarded: LiveServer) -> None:
    sock = connect(guarded)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"a:1\r\n" * 10_000 + b"\r\n")
    got = answer(sock)
    sock.close()
    assert got.startswith(b"HTTP/1.1 431 "), got
    assert b"Too many request header fields" in got


def test_one_address_is_capped_and_others_are_not(guarded: LiveServer) -> None:
    held = [connect(guarded) for _ in range(PER_CLIENT)]
    time.sleep(0.2)  # let the server accept them all
    extra = connect(guarded)
    extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    started = time.monotonic()
    assert answer(extra).startswith(b"HTTP/1.1 503 ")
    assert time.monotonic() - started < HEAD_TIMEOUT  # refused at once, not timed out
    extra.close()
    other = connect(guarded, source="127.0.0.2")  # another client address
    other.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer(other).startswith(b"HTTP/1.1 200 ")
    other.close()
    for sock in held:
        sock.close()
    time.sleep(0.2)
    assert healthy(guarded)  # the count went down again


def test_the_official_client_is_unaffected(guarded: LiveServer) -> None:
    result = probe(guarded)
    assert result["status"] == 200
    assert result["body"] == {"authorized": "yes", "echo": "over the wire"}
