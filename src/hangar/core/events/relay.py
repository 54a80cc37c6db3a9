"""An event bus shared by several server processes: each event is delivered in the process
that publishes it and, to subscribers that ask for it (``Matcher.everywhere``), in the
others, through a :class:`Channel` (PostgreSQL LISTEN/NOTIFY: ``hangar.db.notify``).

Delivery stays at most once and in publish order per publisher; a relayed event arrives
after it was committed (publishers publish after their transaction) and a little later than
locally. A lost or oversized message is lost, as an overflowing subscriber's event is: the
database stays the record.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from hangar.core.events import codec
from hangar.core.events.bus import (
    DEFAULT_QUEUE_SIZE,
    InProcessBus,
    Matcher,
    Overflow,
    Subscription,
)
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
    """:class:`~hangar.core.events.EventBus` over a :class:`Channel`: an
    :class:`~hangar.core.events.InProcessBus` for this process, plus relayed events for the
    subscriptions that ask for them."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._local = InProcessBus()
        self._everywhere: set[Subscription] = set()

    async def open(self) -> None:
        await self._channel.open(self._received)

    async def aclose(self) -> None:
        await self._channel.close()

    @property
    def subscriber_count(self) -> int:
        return self._local.subscriber_count

    def publish(self, event: Event) -> None:
        self._local.publish(event)
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
        for subscription in list(self._everywhere):
            if not subscription.offer(event):
                self._everywhere.discard(subscription)

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        matcher: Matcher,
        *,
        size: int = DEFAULT_QUEUE_SIZE,
        overflow: Overflow = Overflow.DROP_OLDEST,
    ) -> AsyncIterator[Subscription]:
        async with self._local.subscribe(matcher, size=size, overflow=overflow) as subscription:
            if matcher.everywhere:
                self._everywhere.add(subscription)
            try:
                yield subscription
            finally:
                self._everywhere.discard(subscription)

    def close(self) -> None:
        self._local.close()

    @property
    def closed(self) -> bool:
        return self._local.closed

    async def wait_closed(self) -> None:
        await self._local.wait_closed()
