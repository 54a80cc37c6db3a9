"""Endpoint hints between server processes that share a database, over the event bus's
relay (PostgreSQL LISTEN/NOTIFY, :class:`~hangar.core.events.relay.RelayBus`): a worker
that became RUNNING or went, demand on an endpoint, load, a worker a caller saw refuse and
an owner's change reach the other processes at once instead of at their next pass.

Hints are not the record: a lost one only delays the reaction until the periodic passes
that read the database. Load is coalesced (the latest values, at most every
``LOAD_EVERY`` seconds, at once when it rises from none; a non-zero load is sent again
every ``LOAD_REFRESH`` seconds, and a receiver forgets one older than ``LOAD_TTL``), and a
wake of one endpoint leaves at most every ``WAKE_EVERY`` seconds. With one process (SQLite)
there is no relay and none of this runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import timedelta

from hangar.core.clock import Clock
from hangar.core.endpoints.models import WorkerChange
from hangar.core.events import EndpointHint, Event, EventBus, EventKind, Matcher, Tenant

K = EventKind
KINDS = frozenset({K.ENDPOINT_WORKER, K.ENDPOINT_LOAD, K.ENDPOINT_WOKEN, K.ENDPOINT_SUSPECT,
                   K.ENDPOINT_CHANGED})  # fmt: skip
NOBODY = Tenant(uuid.UUID(int=0), None, "")  # hints belong to no user; no face streams them
LOAD_EVERY = 0.25
LOAD_REFRESH = 5.0
LOAD_TTL = timedelta(seconds=15)
WAKE_EVERY = 1.0

Receiver = Callable[[EventKind, EndpointHint], None]
Values = tuple[int, int]  # tasks queued, requests in flight


class HintRelay:
    def __init__(self, bus: EventBus, clock: Clock, origin: str) -> None:
        self._bus, self._clock, self.origin = bus, clock, origin
        self._local: dict[int, Values] = {}  # this process's latest load per endpoint
        self._sent: dict[int, tuple[Values, float]] = {}  # what left last, when (monotonic)
        self._woken: dict[int, float] = {}  # endpoint -> last wake sent (monotonic)
        self._dirty = asyncio.Event()

    def _publish(self, kind: EventKind, hint: EndpointHint) -> None:
        subject = uuid.UUID(int=hint.endpoint_id)
        self._bus.publish(Event(kind, subject, NOBODY, hint, self._clock.now()))

    def worker(self, change: WorkerChange) -> None:
        hint = EndpointHint(change.endpoint_id, self.origin, change.worker_id,
                            change.status.value, change.reason)  # fmt: skip
        self._publish(K.ENDPOINT_WORKER, hint)

    def suspect(self, endpoint_id: int, worker_id: int) -> None:
        self._publish(K.ENDPOINT_SUSPECT, EndpointHint(endpoint_id, self.origin, worker_id))

    def changed(self, endpoint_id: int) -> None:
        self._publish(K.ENDPOINT_CHANGED, EndpointHint(endpoint_id, self.origin))

    def wake(self, endpoint_id: int) -> None:
        now = self._clock.monotonic()
        if now - self._woken.get(endpoint_id, -WAKE_EVERY) >= WAKE_EVERY:
            self._woken[endpoint_id] = now
            self._publish(K.ENDPOINT_WOKEN, EndpointHint(endpoint_id, self.origin))

    def load(self, endpoint_id: int, queued: int, in_flight: int) -> None:
        """This process's load on the endpoint now (sent coalesced)."""
        values = (queued, in_flight)
        sent = self._sent.get(endpoint_id)
        if sent is None and not any(values):
            return  # nothing the others do not know
        self._local[endpoint_id] = values
        if sent is None:  # load where there was none: at once
            self._send(endpoint_id, values)
        elif sent[0] != values:
            self._dirty.set()

    def _send(self, endpoint_id: int, values: Values) -> None:
        self._sent[endpoint_id] = values, self._clock.monotonic()
        hint = EndpointHint(endpoint_id, self.origin, queued=values[0], in_flight=values[1])
        self._publish(K.ENDPOINT_LOAD, hint)
        if not any(values):  # zero told: forget the endpoint until it has load again
            self._local.pop(endpoint_id, None)
            self._sent.pop(endpoint_id, None)

    def _flush(self) -> None:
        now = self._clock.monotonic()
        for endpoint_id, values in list(self._local.items()):
            sent = self._sent.get(endpoint_id)
            if sent is None or sent[0] != values or now - sent[1] >= LOAD_REFRESH:
                self._send(endpoint_id, values)

    async def _send_loads(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), LOAD_REFRESH)
            self._dirty.clear()
            self._flush()
            await asyncio.sleep(LOAD_EVERY)

    def _elsewhere(self, event: Event) -> bool:
        payload = event.payload
        return isinstance(payload, EndpointHint) and payload.origin != self.origin

    async def follow(self, receive: Receiver) -> None:
        """Until cancelled: hand other processes' hints to ``receive``; send this one's
        load."""
        matcher = Matcher(KINDS, where=self._elsewhere, everywhere=True)
        async with self._bus.subscribe(matcher) as events:
            sender = asyncio.ensure_future(self._send_loads())
            try:
                while True:
                    event = await events.get()
                    if isinstance(event.payload, EndpointHint):
                        receive(event.kind, event.payload)
            finally:
                sender.cancel()
