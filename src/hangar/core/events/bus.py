"""Publish/subscribe of :class:`Event` envelopes by matcher.

:class:`EventBus` is the one interface; :class:`InProcessBus` serves one server process. A
multi-process implementation (PostgreSQL LISTEN/NOTIFY, Redis) serves the same interface:
see docs/design/events.md.

Delivery: at most once, in publish order per subscriber, never blocking the publisher. Each
subscriber has a bounded queue; what happens when it is full is the subscriber's
:class:`Overflow` policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import Counter

from hangar.core.events.envelope import Event, EventKind, Tenant

DEFAULT_QUEUE_SIZE = 1000
DROPPED = Counter(
    "hangar_events_dropped_total",
    "Events a subscriber lost because its queue was full",
    ["overflow"],
)


class Overflow(enum.Enum):
    """What a full subscriber queue does with the next event."""

    DROP_OLDEST = "drop-oldest"  # the oldest queued event is lost (counted); the stream goes on
    END = "end"  # the subscription ends: get() raises Overflowed, the consumer resynchronises


class Overflowed(Exception):
    """The subscription fell behind and was ended (policy :attr:`Overflow.END`)."""


@dataclass(frozen=True, slots=True)
class Matcher:
    """Which events a subscriber gets. Every given part must match; None matches all.

    ``kinds`` and ``subject`` are plain values a multi-process bus can filter at the source;
    ``tenant`` and ``where`` are predicates evaluated in the subscriber's process.
    ``everywhere``: also the events other server processes publish (on a bus that relays
    them, :class:`~hangar.core.events.relay.RelayBus`). Watchers (event streams, a create
    waiting for its session) set it; consumers that act on an event (webhooks, meters,
    loops) leave it off, so that only the process where the event happened acts on it.
    """

    kinds: frozenset[EventKind] | None = None
    subject: uuid.UUID | None = None
    tenant: Callable[[Tenant], bool] | None = None
    where: Callable[[Event], bool] | None = None
    everywhere: bool = False

    def matches(self, event: Event) -> bool:
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        if self.subject is not None and event.subject != self.subject:
            return False
        if self.tenant is not None and not self.tenant(event.tenant):
            return False
        return self.where is None or self.where(event)


class Subscription:
    """One subscriber's bounded queue of matching events."""

    def __init__(self, matcher: Matcher, size: int, overflow: Overflow) -> None:
        if size < 1:
            raise ValueError("a subscription queue holds at least one event")
        self.matcher = matcher
        self.overflow = overflow
        self.dropped = 0  # events lost to overflow
        self._queue: asyncio.Queue[Event] = asyncio.Queue(size)
        self._ended = False

    @property
    def ended(self) -> bool:
        return self._ended

    def offer(self, event: Event) -> bool:
        """Queue ``event`` if it matches; returns False once the subscription has ended."""
        if self._ended:
            return False
        if not self.matcher.matches(event):
            return True
        if self._queue.full():
            self.dropped += 1
            DROPPED.labels(overflow=self.overflow.value).inc()
            if self.overflow is Overflow.END:
                self._ended = True
                return False
            self._queue.get_nowait()
        self._queue.put_nowait(event)
        return True

    async def get(self) -> Event:
        """The next event, waiting for one. Raises Overflowed once the subscription ended."""
        if self._ended:
            raise Overflowed(f"{self.dropped} event(s) lost: the subscriber fell behind")
        return await self._queue.get()

    def drain(self) -> list[Event]:
        """The events queued now, without waiting (a batch for a consumer that coalesces)."""
        events = []
        while not self._queue.empty():
            events.append(self._queue.get_nowait())
        return events

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self.get()


class EventBus(Protocol):
    def publish(self, event: Event) -> None:
        """Hand ``event`` to every matching subscriber; never blocks, never raises for a
        subscriber's sake."""
        ...

    def subscribe(
        self,
        matcher: Matcher,
        *,
        size: int = DEFAULT_QUEUE_SIZE,
        overflow: Overflow = Overflow.DROP_OLDEST,
    ) -> AbstractAsyncContextManager[Subscription]:
        """A subscription that receives every matching event published after entry, until
        exit (also when the subscribing task is cancelled)."""
        ...

    def close(self) -> None:
        """The server is shutting down: waiters in :meth:`wait_closed` return."""
        ...

    @property
    def closed(self) -> bool: ...

    async def wait_closed(self) -> None: ...


class InProcessBus:
    """:class:`EventBus` within one process and one event loop."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._closed = asyncio.Event()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def publish(self, event: Event) -> None:
        for subscription in list(self._subscriptions):
            if not subscription.offer(event):
                self._subscriptions.discard(subscription)

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        matcher: Matcher,
        *,
        size: int = DEFAULT_QUEUE_SIZE,
        overflow: Overflow = Overflow.DROP_OLDEST,
    ) -> AsyncIterator[Subscription]:
        subscription = Subscription(matcher, size, overflow)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    def close(self) -> None:
        self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def wait_closed(self) -> None:
        await self._closed.wait()
