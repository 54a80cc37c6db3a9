"""ZeroMQ's wire protocol for :mod:`.stdlib_kernel`, standard library only, Python 3.6+.

ZMTP 3.0 with NULL security over TCP, as libzmq speaks it: a 64-byte greeting each way, a
READY command naming the socket type (and the peer's routing identity), then multipart
messages as frames with MORE/LONG/COMMAND flags. One thread serves five listening sockets
(the kernel's channels) and their peers; the kernel replies on the connection a request came
on, so a ROUTER needs no routing table, and PUB sends every message to every subscriber
(the client subscribes to everything).
"""

import contextlib
import selectors
import socket
import struct
import sys
import threading
import traceback
from typing import Any, Callable, Dict, List, Optional

CHANNELS = ("shell", "iopub", "stdin", "control", "hb")
SOCKET_TYPES = {"shell": b"ROUTER", "iopub": b"PUB", "stdin": b"ROUTER",
                "control": b"ROUTER", "hb": b"REP"}  # fmt: skip
GREETING = b"\xff" + bytes(8) + b"\x7f" + bytes([3, 0]) + b"NULL".ljust(20, b"\0") + bytes(32)


def _frame(body: bytes, flags: int) -> bytes:
    if len(body) > 255:
        return bytes([flags | 2]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body


def _ready(socket_type: bytes) -> bytes:
    name = b"Socket-Type"
    body = b"\x05READY" + bytes([len(name)]) + name + struct.pack(">I", len(socket_type))
    return _frame(body + socket_type, 4)


def _properties(body: bytes) -> Dict[bytes, bytes]:
    found, at = {}, 1 + body[0]
    while at < len(body):
        size = body[at]
        name = body[at + 1 : at + 1 + size]
        (length,) = struct.unpack(">I", body[at + 1 + size : at + 5 + size])
        found[name] = body[at + 5 + size : at + 5 + size + length]
        at += 5 + size + length
    return found


class Peer:
    """One client connection on one channel: ZMTP greeting, READY, multipart messages."""

    def __init__(self, sock: socket.socket, channel: str) -> None:
        self.sock, self.channel = sock, channel
        self.buffer = bytearray()
        self.greeted = False
        self.identity = b""
        self.parts = []  # type: List[bytes]
        self.lock = threading.Lock()
        self.send_raw(GREETING + _ready(SOCKET_TYPES[channel]))

    def send_raw(self, data: bytes) -> None:
        with self.lock, contextlib.suppress(OSError):  # closed: the reader notices
            self.sock.sendall(data)

    def send(self, frames: List[bytes]) -> None:
        out = b"".join(_frame(f, 1 if i < len(frames) - 1 else 0) for i, f in enumerate(frames))
        self.send_raw(out)

    def feed(self, data: bytes) -> List[List[bytes]]:
        """The whole messages ``data`` completes. Raises ValueError on a bad greeting."""
        self.buffer += data
        messages = []  # type: List[List[bytes]]
        if not self.greeted:
            if len(self.buffer) < 64:
                return messages
            if self.buffer[0] != 0xFF or self.buffer[9] != 0x7F or self.buffer[10] < 3:
                raise ValueError("not a ZMTP 3 peer")
            del self.buffer[:64]
            self.greeted = True
        while len(self.buffer) >= 2:
            flags = self.buffer[0]
            head = 9 if flags & 2 else 2
            if len(self.buffer) < head:
                break
            size = struct.unpack(">Q", self.buffer[1:9])[0] if flags & 2 else self.buffer[1]
            if len(self.buffer) < head + size:
                break
            body = bytes(self.buffer[head : head + size])
            del self.buffer[: head + size]
            if flags & 4:  # a command: READY names the peer; others are ignored
                if body[:6] == b"\x05READY":
                    self.identity = _properties(body).get(b"Identity", b"")
                continue
            self.parts.append(body)
            if not flags & 1:
                messages.append(self.parts)
                self.parts = []
        return messages


class Wire:
    """Five listening sockets and their peers, served by one thread. Whole messages go to
    ``deliver(channel, peer, frames)``; heartbeats are echoed."""

    def __init__(self, ip: str, ports: Dict[str, int], deliver: Callable[..., None]) -> None:
        self.selector = selectors.DefaultSelector()
        self.peers = {name: [] for name in CHANNELS}  # type: Dict[str, List[Peer]]
        self.ports = {}  # type: Dict[str, int]
        self.deliver = deliver
        for name in CHANNELS:
            listener = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((ip, int(ports.get(name + "_port") or 0)))
            listener.listen(16)
            self.ports[name + "_port"] = listener.getsockname()[1]
            self.selector.register(listener, selectors.EVENT_READ, (name, None))

    def serve(self) -> None:
        while True:
            for key, _ in self.selector.select():
                name, peer = key.data
                if peer is None:
                    self._accept(key.fileobj, name)
                else:
                    self._read(peer)

    def _accept(self, listener: Any, name: str) -> None:
        sock, _ = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = Peer(sock, name)
        self.peers[name].append(peer)
        self.selector.register(sock, selectors.EVENT_READ, (name, peer))

    def _read(self, peer: Peer) -> None:
        try:
            data = peer.sock.recv(1 << 16)
            messages = peer.feed(data) if data else None
        except (OSError, ValueError, IndexError, struct.error):  # gone, or not speaking ZMTP
            messages = None
        if messages is None:
            self.selector.unregister(peer.sock)
            self.peers[peer.channel].remove(peer)
            peer.sock.close()
            return
        for frames in messages:
            if peer.channel == "hb":
                peer.send(frames)
            elif peer.channel != "iopub":  # subscriptions: every subscriber gets everything
                try:
                    self.deliver(peer.channel, peer, frames)
                except Exception:  # noqa: BLE001 - one bad message must not stop the wire
                    traceback.print_exc(file=sys.__stderr__)

    def publish(self, frames: List[bytes]) -> None:
        for peer in list(self.peers["iopub"]):
            peer.send(frames)

    def stdin_peer(self, identity: bytes) -> Optional[Peer]:
        """The stdin connection of the client whose shell socket is ``identity``."""
        peers = list(self.peers["stdin"])
        same = [p for p in peers if identity and p.identity == identity]
        found = same or peers
        return found[-1] if found else None
