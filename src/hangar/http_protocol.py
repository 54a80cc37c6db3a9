"""uvicorn's httptools protocol with the limits an exposed server needs on its own.

uvicorn 0.54 with httptools waits forever for a request head, buffers a head of any size and
any number of header lines, and accepts any number of connections from one address. A
:class:`GuardedProtocol` class (made by :func:`guarded_protocol`, handed to
``uvicorn.Config(http=...)``) adds, without a proxy in front:

- a head read timeout: a connection that has not completed its request head within
  ``head_timeout`` seconds of connecting (or of the head's first byte, on a kept-alive
  connection) gets 408 and is closed; the keep-alive idle timeout between requests is uvicorn's;
- a bound on the bytes of a request head and on its header lines: 431 and closed;
- a cap on open connections per client address: over it, 503 at once and closed.

It overrides a few of uvicorn's hooks (``connection_made``/``_lost``, ``data_received``,
``on_message_begin``, ``on_header``, ``on_headers_complete``, ``send_400_response``,
``handle_websocket_upgrade``) and stays uvicorn's class otherwise, so the zero-copy send
(:mod:`hangar.api.zerocopy`) keeps finding uvicorn's request cycle. It is written against
uvicorn 0.54; tests/unit/test_http_protocol.py fails when those hooks change.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

LINGER_SECONDS = 1.0


@dataclass(frozen=True)
class HttpLimits:
    head_timeout: float = 20.0
    max_head_bytes: int = 64 * 1024
    max_headers: int = 100
    max_connections_per_client: int = 256  # 0: no cap
    exempt_clients: frozenset[str] = frozenset()  # e.g. trusted reverse proxies


class _HeadRefused(Exception):
    """Raised inside a parser callback to stop parsing a head that breaks a limit."""


class GuardedProtocol(HttpToolsProtocol):
    limits: HttpLimits = HttpLimits()
    open_by_client: Counter[str] = Counter()  # per server: see guarded_protocol

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_open = False  # a request head has begun and is not complete
        self._head_bytes = 0
        self._header_count = 0
        self._refusal: int | None = None
        self._counted: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else None
        limits = self.limits
        if address is not None and address not in limits.exempt_clients:
            open_now = self.open_by_client[address]
            if 0 < limits.max_connections_per_client <= open_now:
                self._refuse(503, "Too many connections from this address.")
                return
            self.open_by_client[address] = open_now + 1
            self._counted = address
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return
        if self._head_open:
            room = self.limits.max_head_bytes - self._head_bytes
            if len(data) > room:  # feed what fits: the head must end within it
                if room > 0:
                    super().data_received(data[:room])
                if self._head_open and self._refusal is None and not self.transport.is_closing():
                    self._refuse(431, "Request header fields too large.")
                elif self._refusal is None:
                    self._pass_on(data[room:])
                return
            self._head_bytes += len(data)
        super().data_received(data)

    def _pass_on(self, rest: bytes) -> None:
        """The rest of a chunk after a complete head: to this protocol or, after a WebSocket
        upgrade, to the one that took the connection over."""
        if not rest or self.transport.is_closing():
            return
        protocol = self.transport.get_protocol()
        if protocol is self:
            self.data_received(rest)
        elif isinstance(protocol, asyncio.Protocol):
            protocol.data_received(rest)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_open = True
        self._head_bytes = 0
        self._header_count = 0
        if self._head_timer is None:
            self._arm_head_timer()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refusal = 431
            raise _HeadRefused()
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._cancel_head_timer()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if self._refusal == 431:  # the parser stopped at a header over the count
            self._refusal = None
            self._refuse(431, "Too many request header fields.")
            return
        super().send_400_response(msg)

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol takes the transport over; this one never hears of its end.
        super().handle_websocket_upgrade()
        protocol = self.transport.get_protocol()
        lost = protocol.connection_lost

        def counted_lost(exc: Exception | None) -> None:
            self._release()
            lost(exc)

        protocol.connection_lost = counted_lost  # type: ignore[method-assign]

    def _arm_head_timer(self) -> None:
        timeout = self.limits.head_timeout
        if timeout > 0:
            self._head_timer = self.loop.call_later(timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False  # a pipelined head stalls: close after this response
            return
        self._refuse(408, "Request header read timeout.")

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with a one-line text and close. What the client still sends is
        read and dropped for up to LINGER_SECONDS, so that it sees the answer instead of a
        reset (a close with unread data resets the connection)."""
        self._refusal = status
        self._cancel_head_timer()
        transport = self.transport
        if self.cycle is None or self.cycle.response_complete:  # not inside a response
            body = message.encode()
            transport.write(
                STATUS_LINE[status] + b"content-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
            )
        if transport.can_write_eof():
            transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, transport.close)
        else:
            transport.close()

    def _release(self) -> None:
        self._cancel_head_timer()
        address, self._counted = self._counted, None
        if address is not None:
            counts = self.open_by_client
            counts[address] -= 1
            if counts[address] <= 0:
                del counts[address]


def guarded_protocol(limits: HttpLimits) -> type[GuardedProtocol]:
    """A :class:`GuardedProtocol` subclass bound to ``limits`` (one per server)."""
    return type(
        "GuardedProtocol", (GuardedProtocol,), {"limits": limits, "open_by_client": Counter()}
    )


__all__ = ["GuardedProtocol", "HttpLimits", "guarded_protocol"]
