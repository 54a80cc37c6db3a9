"""Lifecycle webhooks: sessions created with ``callback_url`` get their events POSTed there.

Which events go out and the body they carry belong to the face whose clients asked for the
callback (a :class:`WebhookFormat`, e.g. Backend.AI's callback format in ``api/bai``); this
module delivers them, once per event, retrying failed deliveries with backoff."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any, Protocol

import httpx

from hangar.core.clock import Clock
from hangar.core.events import Event, EventBus, EventKind, Matcher, SessionChange

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


class WebhookNotifier:
    """Delivers each session-level event once, retrying a failed delivery with backoff."""

    def __init__(
        self, clock: Clock, bus: EventBus,
        format: WebhookFormat, *, attempts: int = 3, backoff: float = 1.0, timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:  # fmt: skip
        self._clock = clock
        self._bus = bus
        self._format = format
        self._attempts = attempts
        self._backoff = backoff
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._deliveries: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Listen until cancelled."""
        try:
            async with self._bus.subscribe(Matcher(self._format.kinds)) as events:
                while True:
                    event = await events.get()
                    change = event.payload  # carries the session's callback URL: no read
                    url = change.callback_url if isinstance(change, SessionChange) else None
                    if url:
                        task = asyncio.create_task(self._deliver(url, event))
                        self._deliveries.add(task)
                        task.add_done_callback(self._deliveries.discard)
        finally:
            await self._client.aclose()

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
