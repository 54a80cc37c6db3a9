"""Lifecycle webhooks: sessions created with ``callback_url`` get their events POSTed there."""

from __future__ import annotations

import asyncio
import logging
import uuid

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.compute import repo
from hangar.core.compute.events import EventBus
from hangar.core.compute.models import SessionEvent
from hangar.db.engine import DbSession

log = logging.getLogger("hangar.core.compute.webhooks")

WEBHOOK_EVENTS = {
    "session_enqueued": "enqueued",
    "session_scheduled": "scheduled",
    "kernel_preparing": "preparing",
    "session_started": "started",
    "session_cancelled": "cancelled",
    "session_terminated": "terminated",
    "session_success": "success",
    "session_failure": "failure",
}

FINAL_EVENTS = frozenset({"session_terminated", "session_cancelled"})
MAX_CACHED_URLS = 10_000


class WebhookNotifier:
    """Delivers each session-level event once, retrying a failed delivery with backoff."""

    def __init__(
        self, sessions: async_sessionmaker[DbSession], clock: Clock, bus: EventBus, *,
        attempts: int = 3, backoff: float = 1.0, timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:  # fmt: skip
        self._sessions = sessions
        self._clock = clock
        self._bus = bus
        self._attempts = attempts
        self._backoff = backoff
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._deliveries: set[asyncio.Task[None]] = set()
        # A session's callback URL never changes: read it once, not at every event.
        self._urls: dict[uuid.UUID, str | None] = {}

    async def run(self) -> None:
        """Listen until cancelled."""
        try:
            async with self._bus.subscribe(lambda e: e.name in WEBHOOK_EVENTS) as queue:
                while True:
                    event = await queue.get()
                    url = await self._callback_url(event.session_id)
                    if event.name in FINAL_EVENTS:
                        self._urls.pop(event.session_id, None)
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

    async def _deliver(self, url: str, event: SessionEvent) -> None:
        body = {
            "type": "session_lifecycle",
            "event": WEBHOOK_EVENTS[event.name],
            "session_id": str(event.session_id),
            "when": self._clock.now().isoformat(),
        }
        for attempt in range(1, self._attempts + 1):
            try:
                response = await self._client.post(url, json=body)
                if response.status_code < 500:
                    return
                reason = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                reason = str(exc) or type(exc).__name__
            log.warning("webhook %s for session %s failed (attempt %d): %s",
                        body["event"], event.session_id, attempt, reason)  # fmt: skip
            await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
