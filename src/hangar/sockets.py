"""Listening sockets for the server and the agent."""

from __future__ import annotations

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
