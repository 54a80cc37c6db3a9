"""A terminal of its own for each browser tab: a shell from the session's web-terminal app.

The session's ``ttyd`` app (terminado, :mod:`hangar.agent.services.terminal_app`) starts one
shell per WebSocket connection. :class:`TabTerminal` opens such a connection through the app
proxy (``services.apps.open``, with the viewer's principal) and speaks terminado's JSON
messages on it (``["stdin", text]``, ``["set_size", rows, cols]`` up; ``["stdout", text]``
and ``["disconnect", ...]`` down), so the UI socket can treat it as the shared terminal: the
shell ends when the tab closes its socket.
"""

from __future__ import annotations

import json

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from hangar.core.agents.client import AppStream
from hangar.core.errors import Unavailable
from hangar.core.principal import Principal
from hangar.core.services import Services

TERMINAL_APP = "ttyd"
SOCKET_PATH = "/websocket"
MAX_MESSAGE = 4 * 1024 * 1024


class TabTerminal:
    """One terminado shell over an app stream; the TerminalStream calls the UI uses."""

    def __init__(self, stream: AppStream) -> None:
        self._stream = stream
        self._protocol = ClientProtocol(parse_uri("ws://127.0.0.1/"), max_size=MAX_MESSAGE)
        self._pending: list[bytes] = []
        self._ended = False

    async def _flush(self) -> None:
        data = b"".join(self._protocol.data_to_send())
        if data:
            await self._stream.write(data)

    async def handshake(self) -> None:
        """Ask for the shell; raises Unavailable when the app refuses the socket."""
        request = self._protocol.connect()
        request.path = SOCKET_PATH
        self._protocol.send_request(request)
        await self._flush()
        while True:
            data = await self._stream.read()
            if not data:
                raise Unavailable("The session's terminal app closed the connection.")
            self._protocol.receive_data(data)
            for event in self._protocol.events_received():
                if isinstance(event, Response):
                    if event.status_code != 101 or self._protocol.handshake_exc:
                        raise Unavailable(f"The terminal app answered {event.status_code}.")
                    return
                if isinstance(event, Frame):
                    self._take(event)

    def _take(self, frame: Frame) -> None:
        if frame.opcode is Opcode.CLOSE:
            self._ended = True
            return
        if frame.opcode is not Opcode.TEXT:
            return
        try:
            message = json.loads(bytes(frame.data))
        except ValueError:
            return
        if not isinstance(message, list) or not message:
            return
        if message[0] == "stdout" and len(message) > 1 and isinstance(message[1], str):
            self._pending.append(message[1].encode())
        elif message[0] == "disconnect":
            self._ended = True

    async def read(self) -> bytes:
        """The shell's next output; b"" once it ended."""
        while not self._pending and not self._ended:
            data = await self._stream.read()
            if not data:
                self._ended = True
                break
            self._protocol.receive_data(data)
            for event in self._protocol.events_received():
                if isinstance(event, Frame):
                    self._take(event)
            await self._flush()  # pong answers
        return self._pending.pop(0) if self._pending else b""

    async def _send(self, message: list[object]) -> None:
        self._protocol.send_text(json.dumps(message).encode())
        await self._flush()

    async def write(self, data: bytes) -> None:
        await self._send(["stdin", data.decode(errors="replace")])

    async def resize(self, rows: int, cols: int) -> None:
        await self._send(["set_size", rows, cols])

    async def restart(self) -> None:
        """A tab's shell is not restarted: a new tab gets a new one."""

    async def close(self) -> None:
        await self._stream.close()


async def open_tab_terminal(
    services: Services, principal: Principal, session_id: str
) -> TabTerminal:
    """A new shell in the caller's running session. Raises NotFound, InvalidRequest,
    AgentError, Unavailable."""
    stream = await services.apps.open(principal, session_id, app=TERMINAL_APP)
    terminal = TabTerminal(stream)
    try:
        await terminal.handshake()
    except BaseException:
        await stream.close()
        raise
    return terminal
