"""Service apps of a session (its exposed ports) and the connections the app proxy opens.

The apps come from the image's service-ports label, limited to what agents can run, plus the
built-in ones every session has: the web terminal ``ttyd`` and ``sshd``. ``jupyter`` is
offered by Python images. The ports the session's spec asks for follow. A connection goes
through the session's agent (:meth:`AgentClient.open_app`); traffic on it keeps the session
from idling out.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from hangar.core.agents.client import AppStream, TerminalStream
from hangar.core.agents.service import AgentService
from hangar.core.compute.lifecycle import SessionLifecycle
from hangar.core.compute.models import ComputeSession
from hangar.core.compute.ports import BUILT_IN, JUPYTER, ExposedPort, PortProtocol
from hangar.core.compute.service import ComputeService
from hangar.core.errors import InvalidRequest, NotFound
from hangar.core.images.service import ImageService
from hangar.core.principal import Principal

SERVICE_PORTS_LABEL = "ai.backend.service-ports"
RUNTIME_TYPE_LABEL = "ai.backend.runtime-type"
RUNNABLE = ("jupyter", "ttyd", "sshd")
TOUCH_INTERVAL = 10.0  # seconds between idle-timer resets while traffic flows
_ENTRY = re.compile(r"^([a-z0-9][a-z0-9_-]*):(http|tcp|pty|preopen):(\d+|\[\d+(?:,\d+)*\])$")
_LABEL_PROTOCOLS = {"http": PortProtocol.HTTP, "tcp": PortProtocol.TCP, "pty": PortProtocol.PTY,
                    "preopen": PortProtocol.TCP}  # fmt: skip


def parse_service_ports(label: str) -> list[ExposedPort]:
    """The ports an image's service-ports label declares (``name:protocol:port``, comma
    separated; ``[p1,p2]`` for several ports); malformed entries are skipped (an image label
    is not user input)."""
    entries = re.split(r",(?![^\[]*\])", label.replace(" ", "")) if label else []
    ports: list[ExposedPort] = []
    for entry in entries:
        match = _ENTRY.match(entry)
        if match is None:
            continue
        name, protocol, raw = match.groups()
        numbers = tuple(int(p) for p in raw.strip("[]").split(","))
        if all(0 < n < 65536 for n in numbers):
            ports.append(ExposedPort(name, _LABEL_PROTOCOLS[protocol], numbers))
    return ports


def session_apps(labels: dict[str, str]) -> list[ExposedPort]:
    """The apps a session of an image with ``labels`` offers, in label order."""
    python = labels.get(RUNTIME_TYPE_LABEL, "").startswith("python")
    offered = [
        port
        for port in parse_service_ports(labels.get(SERVICE_PORTS_LABEL, ""))
        if port.name in RUNNABLE and (python or port.name != "jupyter")
    ]
    wanted = [*BUILT_IN, JUPYTER] if python else list(BUILT_IN)
    names = {port.name for port in offered}
    return offered + [port for port in wanted if port.name not in names]


def _json_object(text: str | None, what: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise InvalidRequest(f"{what} must be a JSON object.") from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"{what} must be a JSON object.")
    return value


class _ActiveStream:
    """Passes through to the agent's stream; traffic keeps the session from idling out."""

    def __init__(self, inner: AppStream, touch: Callable[[], None]) -> None:
        self._inner, self._touch, self._last = inner, touch, 0.0

    def _active(self) -> None:
        now = time.monotonic()
        if now - self._last > TOUCH_INTERVAL:
            self._last = now
            self._touch()

    async def read(self) -> bytes:
        data = await self._inner.read()
        self._active()
        return data

    async def write(self, data: bytes) -> None:
        self._active()
        await self._inner.write(data)

    async def close(self) -> None:
        self._touch()
        await self._inner.close()


class _ActiveTerminal(_ActiveStream):
    def __init__(self, inner: TerminalStream, touch: Callable[[], None]) -> None:
        super().__init__(inner, touch)
        self._terminal = inner

    async def resize(self, rows: int, cols: int) -> None:
        await self._terminal.resize(rows, cols)

    async def restart(self) -> None:
        await self._terminal.restart()


class AppService:
    """Lists a session's apps and opens connections to them for the caller."""

    def __init__(
        self,
        *,
        compute: ComputeService,
        images: ImageService,
        agents: AgentService,
        lifecycle: SessionLifecycle,
    ) -> None:
        self._compute, self._images, self._agents = compute, images, agents
        self._lifecycle = lifecycle

    async def apps_of(self, session: ComputeSession) -> list[ExposedPort]:
        """The session's apps (none for batch sessions' images without them), then the
        ports its spec exposes, each an app named by its number (the agent connects to that
        port inside the session's network)."""
        asked = [port.exposed() for port in session.spec.ports]
        try:
            image = await self._images.get(session.image_id)
        except NotFound:
            return asked
        return session_apps(image.labels) + asked

    async def list(
        self, caller: Principal, ref: str, *, owner: Principal | None = None
    ) -> list[ExposedPort]:
        """The apps of the caller's session ``ref``. Raises NotFound."""
        session = await self._compute.resolve(caller, ref, owner=owner)
        return await self.apps_of(session)

    async def open(
        self,
        caller: Principal,
        ref: str,
        *,
        app: str | None,
        port: str | None = None,
        arguments: str | None = None,
        envs: str | None = None,
        owner: Principal | None = None,
    ) -> AppStream:
        """A connection to ``app`` in the caller's running session ``ref``.

        ``port`` must be one of the app's ports; ``arguments``/``envs`` (JSON objects) must be
        empty: no app here takes any. Raises InvalidRequest, NotFound, AgentError.
        """
        if not app:
            raise InvalidRequest("The app parameter is required.")
        session = await self._compute.running(caller, ref, owner=owner)
        service = next((p for p in await self.apps_of(session) if p.name == app), None)
        if service is None:
            raise NotFound("service")
        if (
            port is not None
            and port != ""
            and (not port.isdigit() or int(port) not in service.ports)
        ):
            raise InvalidRequest(f"The app {app} has no port {port}.")
        for what, text in (("arguments", arguments), ("envs", envs)):
            if _json_object(text, what):
                raise InvalidRequest(f"The app {app} does not accept {what}.")
        assert session.agent_id is not None
        stream = await self._agents.client(session.agent_id).open_app(session.id, app)
        return _ActiveStream(stream, lambda: self._lifecycle.touch(session.id))

    async def terminal(
        self, caller: Principal, ref: str, *, owner: Principal | None = None
    ) -> TerminalStream:
        """Attach to the shared terminal of the caller's running session. Raises NotFound,
        InvalidRequest, AgentError."""
        session = await self._compute.running(caller, ref, owner=owner)
        assert session.agent_id is not None
        stream = await self._agents.client(session.agent_id).open_terminal(session.id)
        return _ActiveTerminal(stream, lambda: self._lifecycle.touch(session.id))
