"""An event bus shared by several server processes: each event is delivered in the process
that publishes it and, to subscribers that ask for it (``Matcher.everywhere``), in the
others, through a :class:`Channel` (PostgreSQL LISTEN/NOTIFY: ``hangar.db.notify``).

Delivery stays at most once and in publish order per publisher; a relayed event arrives
after it was committed (publishers publish after their transaction) and a little later than
locally. A lost or oversized message is lost, as an overflowing subscriber's event is: the
database stays the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from hangar.core.events import codec
from hangar.core.events.bus import DEFAULT_QUEUE_SIZE, Matcher, Overflow, Subscription
from hangar.core.events.envelope import Event

log = logging.getLogger("hangar.core.events")


class Channel(Protocol):
    """Messages between the server processes; a process never receives its own."""

    async def open(self, receive: Callable[[str], None]) -> None:
        """Start calling ``receive`` with each message another process sends."""
        ...

    def send(self, message: str) -> None:
        """Send to the other processes, in order, without waiting (dropped before open)."""
        ...

    async def close(self) -> None: ...


class RelayBus:
    """:class:`~hangar.core.events.EventBus` over a :class:`Channel`."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._local: set[Subscription] = set()
        self._everywhere: set[Subscription] = set()
        self._closed = asyncio.Event()

    async def open(self) -> None:
        await self._channel.open(self._received)

    async def aclose(self) -> None:
        await self._channel.close()

    @property
    def subscriber_count(self) -> int:
        return len(self._local)

    def publish(self, event: Event) -> None:
        self._deliver(self._local, event)
        try:
            self._channel.send(codec.encode(event))
        except Exception as exc:  # the event still reached this process's subscribers
            log.warning("could not relay a %s event: %s", event.kind.value, exc)

    def _received(self, message: str) -> None:
        try:
            event = codec.decode(message)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignored a relayed event that does not decode: %s", exc)
            return
        self._deliver(self._everywhere, event)

    def _deliver(self, subscriptions: set[Subscription], event: Event) -> None:
        for subscription in list(subscriptions):
            if not subscription.offer(event):
                self._local.discard(subscription)
                self._everywhere.discard(subscription)

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        matcher: Matcher,
        *,
        size: int = DEFAULT_QUEUE_SIZE,
        overflow: Overflow = Overflow.DROP_OLDEST,
    ) -> AsyncIterator[Subscription]:
        subscription = Subscription(matcher, size, overflow)
        self._local.add(subscription)
        if matcher.everywhere:
            self._everywhere.add(subscription)
        try:
            yield subscription
        finally:
            self._local.discard(subscription)
            self._everywhere.discard(subscription)

    def close(self) -> None:
        self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def wait_closed(self) -> None:
        await self._closed.wait()
