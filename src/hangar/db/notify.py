"""Wake-ups between server processes that share one PostgreSQL database (LISTEN/NOTIFY).

A process that hands work to another (a session it queued, a termination of a session on
another process's agent) wakes the others' reconcile loops at once instead of leaving it to
their next periodic pass. A wake-up carries no data: the database is the truth, and a lost
wake-up only delays the work until that pass. SQLite has one server process: no channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger("hangar.db.notify")
CHANNEL = "hangar_reconcile"


class PgWakeups:
    """One dedicated connection that listens on :data:`CHANNEL` and sends on it; wake-ups
    sent by this process (``sender``) are not delivered back to it."""

    def __init__(self, engine: AsyncEngine, sender: str) -> None:
        self._engine, self._sender = engine, sender
        self._on_wake: Callable[[], None] = lambda: None
        self._conn: AsyncConnection | None = None
        self._raw: Any = None  # the asyncpg connection
        self._pending: asyncio.Task[None] | None = None
        self._again = False

    @staticmethod
    def available(engine: AsyncEngine) -> bool:
        return engine.dialect.name == "postgresql"

    async def listen(self, on_wake: Callable[[], None]) -> None:
        """Call ``on_wake`` on each wake-up another process sends."""
        self._on_wake = on_wake
        self._conn = await self._engine.connect()
        raw = await self._conn.get_raw_connection()
        self._raw = raw.driver_connection
        await self._raw.add_listener(CHANNEL, self._received)

    def _received(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload != self._sender:
            self._on_wake()

    def wake_others(self) -> None:
        """Send a wake-up (fire and forget; those asked for while one is being sent make
        one more after it, so none is sent before the work it announces was committed)."""
        if self._raw is None:
            return
        if self._pending is not None and not self._pending.done():
            self._again = True
            return
        self._pending = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        again = True
        while again:
            self._again = False
            try:
                await self._raw.execute("SELECT pg_notify($1, $2)", CHANNEL, self._sender)
            except Exception as exc:  # the periodic passes still do the work
                log.warning("could not wake the other server processes: %s", exc)
                return
            again = self._again

    async def close(self) -> None:
        if self._pending is not None:
            with contextlib.suppress(Exception):
                await self._pending
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._raw.remove_listener(CHANNEL, self._received)
            await self._conn.close()
            self._conn = self._raw = None


EVENTS_CHANNEL = "hangar_events"
MAX_PAYLOAD = 7900  # NOTIFY refuses payloads of 8000 bytes and more


class PgChannel:
    """Messages between the server processes on one PostgreSQL database: one connection
    that LISTENs on a channel and NOTIFYs on it, each message tagged with its sender so that
    a process skips its own. Messages go out in order from one sender task; one longer
    than :data:`MAX_PAYLOAD` bytes, or sent before :meth:`open`, is dropped (logged)."""

    def __init__(self, engine: AsyncEngine, sender: str, name: str = EVENTS_CHANNEL) -> None:
        self._engine, self._sender, self._name = engine, sender, name
        self._prefix = sender + "\n"
        self._receive: Callable[[str], None] = lambda _message: None
        self._conn: AsyncConnection | None = None
        self._raw: Any = None  # the asyncpg connection
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._sender_task: asyncio.Task[None] | None = None

    async def open(self, receive: Callable[[str], None]) -> None:
        self._receive = receive
        self._conn = await self._engine.connect()
        raw = await self._conn.get_raw_connection()
        self._raw = raw.driver_connection
        await self._raw.add_listener(self._name, self._received)
        self._sender_task = asyncio.get_running_loop().create_task(self._send_all())

    def _received(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        sender, _, message = payload.partition("\n")
        if sender != self._sender:
            self._receive(message)

    def send(self, message: str) -> None:
        payload = self._prefix + message
        if self._sender_task is None:
            return
        if len(payload.encode()) > MAX_PAYLOAD:
            log.warning("a message of %d bytes is too long to relay", len(payload.encode()))
            return
        self._outbox.put_nowait(payload)

    async def _send_all(self) -> None:
        while True:
            payload = await self._outbox.get()
            try:
                await self._raw.execute("SELECT pg_notify($1, $2)", self._name, payload)
            except Exception as exc:  # this process's own subscribers still got it
                log.warning("could not relay a message to the other processes: %s", exc)

    async def close(self) -> None:
        if self._sender_task is not None:
            self._sender_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sender_task
            self._sender_task = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._raw.remove_listener(self._name, self._received)
            await self._conn.close()
            self._conn = self._raw = None
