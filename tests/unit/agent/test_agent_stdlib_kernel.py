"""The standard-library kernel's pure parts on the host's Python: its source stays Python 3.6
syntax, ZMTP frames are parsed whatever the read boundaries, completion and is_complete answer
as ipykernel does, and a cell's value shows its rich forms."""

from __future__ import annotations

import ast
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from hangar.agent.kernels import stdlib_kernel, stdlib_wire
from hangar.agent.kernels.launcher import stdlib_kernel_source


def test_the_source_is_python_3_6() -> None:
    ast.parse(stdlib_kernel_source(), feature_version=(3, 6))
    assert "from __future__ import annotations" not in stdlib_kernel_source()


@pytest.fixture
def pair() -> Iterator[tuple[stdlib_wire.Peer, socket.socket]]:
    ours, theirs = socket.socketpair()
    peer = stdlib_wire.Peer(ours, "shell")
    yield peer, theirs
    ours.close()
    theirs.close()


def _command(name: bytes, properties: dict[bytes, bytes]) -> bytes:
    body = bytes([len(name)]) + name
    for key, value in properties.items():
        body += bytes([len(key)]) + key + struct.pack(">I", len(value)) + value
    return stdlib_wire._frame(body, 4)


def test_frames_are_parsed_across_any_read_boundary(
    pair: tuple[stdlib_wire.Peer, socket.socket],
) -> None:
    peer, theirs = pair
    sent = theirs.recv(4096)
    assert sent[:64] == stdlib_wire.GREETING and b"Socket-Type" in sent and b"ROUTER" in sent
    long_part = b"x" * 1000  # a LONG frame (8-byte size)
    stream = stdlib_wire.GREETING + _command(b"READY", {b"Socket-Type": b"DEALER",
                                                          b"Identity": b"me"})  # fmt: skip
    stream += stdlib_wire._frame(b"first", 1) + stdlib_wire._frame(long_part, 0)
    stream += stdlib_wire._frame(b"second", 0)
    got = [message for byte in range(len(stream)) for message in peer.feed(stream[byte : byte + 1])]
    assert got == [[b"first", long_part], [b"second"]] and peer.identity == b"me"
    theirs.settimeout(1)  # what it sends: flags, size, body; LONG past 255 bytes
    peer.send([b"a", b"y" * 300])
    assert theirs.recv(4096) == b"\x01\x01a" + b"\x02" + struct.pack(">Q", 300) + b"y" * 300


def test_a_peer_that_is_not_zmtp_3_is_refused(pair: tuple[stdlib_wire.Peer, socket.socket]) -> None:
    with pytest.raises(ValueError, match="ZMTP 3"):
        pair[0].feed(b"GET / HTTP/1.1\r\n" + b"\0" * 64)


def test_completion_is_the_dotted_name_before_the_cursor() -> None:
    import sys

    namespace: dict[str, Any] = {"sys": sys, "unique_variable_name": 1}
    found = stdlib_kernel.complete(namespace, "x = 1\nsys.ver", 13)
    assert set(found["matches"]) == {"sys.version", "sys.version_info"}
    assert (found["cursor_start"], found["cursor_end"]) == (6, 13)
    assert stdlib_kernel.complete(namespace, "print(unique_v", 14)["matches"] == [
        "unique_variable_name"
    ]
    printed = stdlib_kernel.complete(namespace, "pri", 3)["matches"]
    assert "print" in printed and not any(m.endswith("(") for m in printed)
    assert "import" in stdlib_kernel.complete(namespace, "impo", 4)["matches"]
    assert stdlib_kernel.complete(namespace, "x = ", 4)["matches"] == []


def test_is_complete_says_what_a_console_needs() -> None:
    assert stdlib_kernel.is_complete("x = 1")["status"] == "complete"
    assert stdlib_kernel.is_complete("for i in range(3):")["status"] == "incomplete"
    assert stdlib_kernel.is_complete("x = )")["status"] == "invalid"


class _Html:
    def _repr_html_(self) -> str:
        return "<b>hi</b>"

    def __repr__(self) -> str:
        return "Html()"


class _Broken:
    def _repr_html_(self) -> str:
        raise RuntimeError("no")


def test_a_cells_value_shows_its_rich_forms() -> None:
    assert stdlib_kernel._bundle(_Html()) == {"text/plain": "Html()", "text/html": "<b>hi</b>"}
    assert list(stdlib_kernel._bundle(_Broken())) == ["text/plain"]
    assert list(stdlib_kernel._bundle(_Html)) == ["text/plain"]  # a class, not its instance
