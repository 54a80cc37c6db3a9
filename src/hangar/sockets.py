"""Listening sockets for the server and the agent."""

from __future__ import annotations

import errno
import socket


def listen(host: str, port: int, backlog: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (IPv6 when the host has a colon) and listening.

    Not inheritable (Python's default): sessions' processes must never hold a listening
    socket of the server or the agent, or they could accept its connections.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


class ListenError(Exception):
    """A port that cannot be listened on, as one line for the user."""


def listen_or_explain(host: str, port: int, backlog: int, *, setting: str) -> socket.socket:
    """``listen``, with the failure as one line naming the ``setting`` that picks the port.

    Raises ListenError (``port 8090 is in use; set HANGAR_PORT``) instead of the OSError.
    """
    try:
        return listen(host, port, backlog)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ListenError(f"port {port} is in use; set {setting}") from exc
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
