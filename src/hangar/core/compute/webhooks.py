"""Lifecycle webhooks: sessions created with ``callback_url`` get their events POSTed there.

Which events go out and the body they carry belong to the face whose clients asked for the
callback (a :class:`WebhookFormat`, e.g. Backend.AI's callback format in ``api/bai``); this
module delivers them, once per event, retrying failed deliveries with backoff."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime
from typing import Any, Protocol

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.compute import repo
from hangar.core.events import Event, EventBus, EventKind, Matcher
from hangar.db.engine import DbSession

log = logging.getLogger("hangar.core.compute.webhooks")


class WebhookFormat(Protocol):
    """What a face's callbacks look like."""

    @property
    def kinds(self) -> frozenset[EventKind]:
        """The session events that are delivered."""
        ...

    def body(self, event: Event, when: datetime) -> dict[str, Any]:
        """The JSON body POSTed for ``event`` (one of ``kinds``), sent at ``when``."""
        ...


FINAL_EVENTS = frozenset({EventKind.SESSION_TERMINATED, EventKind.SESSION_CANCELLED})
MAX_CACHED_URLS = 10_000


class WebhookNotifier:
    """Delivers each session-level event once, retrying a failed delivery with backoff."""

    def __init__(
        self, sessions: async_sessionmaker[DbSession], clock: Clock, bus: EventBus,
        format: WebhookFormat, *, attempts: int = 3, backoff: float = 1.0, timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:  # fmt: skip
        self._sessions = sessions
        self._clock = clock
        self._bus = bus
        self._format = format
        self._attempts = attempts
        self._backoff = backoff
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._deliveries: set[asyncio.Task[None]] = set()
        # A session's callback URL never changes: read it once, not at every event.
        self._urls: dict[uuid.UUID, str | None] = {}

    async def run(self) -> None:
        """Listen until cancelled."""
        try:
            async with self._bus.subscribe(Matcher(self._format.kinds)) as events:
                while True:
                    event = await events.get()
                    url = await self._callback_url(event.subject)
                    if event.kind in FINAL_EVENTS:
                        self._urls.pop(event.subject, None)
                    if url:
                        task = asyncio.create_task(self._deliver(url, event))
                        self._deliveries.add(task)
                        task.add_done_callback(self._deliveries.discard)
        finally:
            await self._client.aclose()

    async def _callback_url(self, session_id: uuid.UUID) -> str | None:
        if session_id in self._urls:
            return self._urls[session_id]
        async with self._sessions() as db:
            session = await repo.get(db, session_id)
        url = session.callback_url if session is not None else None
        if len(self._urls) >= MAX_CACHED_URLS:
            self._urls.clear()
        self._urls[session_id] = url
        return url

    async def _deliver(self, url: str, event: Event) -> None:
        body = self._format.body(event, self._clock.now())
        for attempt in range(1, self._attempts + 1):
            try:
                response = await self._client.post(url, json=body)
                if response.status_code < 500:
                    return
                reason = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                reason = str(exc) or type(exc).__name__
            log.warning("webhook %s for session %s failed (attempt %d): %s",
                        event.kind.value, event.subject, attempt, reason)  # fmt: skip
            await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
