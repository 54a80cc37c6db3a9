"""In-process publish/subscribe of session lifecycle events (SSE streams listen here)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from hangar.core.compute.models import SessionEvent

Matcher = Callable[[SessionEvent], bool]


class EventBus:
    """Fan-out of events to subscribers; a slow subscriber loses its oldest events, never
    blocks the publisher."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: set[tuple[Matcher, asyncio.Queue[SessionEvent]]] = set()
        self._queue_size = queue_size
        self._closed = asyncio.Event()

    def close(self) -> None:
        """The server is shutting down: subscribers waiting in :meth:`wait_closed` end."""
        self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def publish(self, event: SessionEvent) -> None:
        for matcher, queue in list(self._subscribers):
            if not matcher(event):
                continue
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, matcher: Matcher) -> AsyncIterator[asyncio.Queue[SessionEvent]]:
        queue: asyncio.Queue[SessionEvent] = asyncio.Queue(self._queue_size)
        entry = (matcher, queue)
        self._subscribers.add(entry)
        try:
            yield queue
        finally:
            self._subscribers.discard(entry)
