"""Ports of a session that are reached from outside through the server's proxy.

A session exposes the built-in apps every session has (the web terminal, sshd, Jupyter in
Python images), the apps its image declares, and the ports its spec asks for. Faces name and
render them in their own words.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from hangar.core.errors import InvalidRequest


class PortProtocol(StrEnum):
    HTTP = "http"
    TCP = "tcp"
    PTY = "pty"


class PortSource(StrEnum):
    """Why a session exposes a port."""

    BUILT_IN = "built-in"  # an app every session (or every Python session) has
    IMAGE = "image"  # declared by the session's image
    SPEC = "spec"  # asked for in the session's spec


@dataclass(frozen=True, slots=True)
class ExposedPort:
    """One reachable service of a session: a name, a protocol and the ports it listens on."""

    name: str
    protocol: PortProtocol
    ports: tuple[int, ...]
    source: PortSource = PortSource.IMAGE


@dataclass(frozen=True, slots=True)
class PortSpec:
    """A port a session's spec asks to expose (the session listens on it itself)."""

    number: int
    protocol: PortProtocol = PortProtocol.TCP

    def exposed(self) -> ExposedPort:
        return ExposedPort(str(self.number), self.protocol, (self.number,), PortSource.SPEC)


TERMINAL = ExposedPort("ttyd", PortProtocol.HTTP, (7681,), PortSource.BUILT_IN)
SSHD = ExposedPort("sshd", PortProtocol.TCP, (2200,), PortSource.BUILT_IN)
JUPYTER = ExposedPort("jupyter", PortProtocol.HTTP, (8081,), PortSource.BUILT_IN)
BUILT_IN = (TERMINAL, SSHD)
MAX_SPEC_PORTS = 16
FIRST_SPEC_PORT = 1024
RESERVED_PORTS = frozenset({*TERMINAL.ports, *SSHD.ports, *JUPYTER.ports})


def check_spec_ports(ports: Iterable[PortSpec]) -> tuple[PortSpec, ...]:
    """Distinct ports 1024-65535, none of a built-in app's, at most ``MAX_SPEC_PORTS``.
    Raises InvalidRequest."""
    chosen: dict[int, PortSpec] = {}
    for port in ports:
        if not FIRST_SPEC_PORT <= port.number <= 65535:
            raise InvalidRequest(f"Port {port.number} is not a port number 1024-65535.")
        if port.number in RESERVED_PORTS:
            raise InvalidRequest(f"Port {port.number} is the port of a built-in app.")
        chosen.setdefault(port.number, port)
    if len(chosen) > MAX_SPEC_PORTS:
        raise InvalidRequest(f"A session exposes at most {MAX_SPEC_PORTS} ports.")
    return tuple(chosen.values())
