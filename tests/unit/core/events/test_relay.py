"""The relaying bus: local subscribers get every event of their process; subscribers that
ask for events from everywhere also get those another process publishes, decoded."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from hangar.core.events import Event, EventKind, Matcher, SessionChange, Tenant
from hangar.core.events.relay import RelayBus

ALICE = Tenant(uuid.uuid4(), uuid.uuid4(), "default")
AT = datetime(2026, 1, 1, tzinfo=UTC)


class Wire:
    """Channels of several processes joined in memory; a sender never hears itself."""

    def __init__(self) -> None:
        self.ends: list[End] = []


class End:
    def __init__(self, wire: Wire) -> None:
        self.wire, self.receive = wire, None
        wire.ends.append(self)

    async def open(self, receive: Callable[[str], None]) -> None:
        self.receive = receive

    def send(self, message: str) -> None:
        for end in self.wire.ends:
            if end is not self and end.receive is not None:
                end.receive(message)

    async def close(self) -> None:
        self.receive = None


def started(name: str) -> Event:
    return Event(EventKind.SESSION_STARTED, uuid.uuid4(), ALICE, SessionChange(name, "AK"), AT)


async def test_events_of_other_processes_reach_only_those_who_ask() -> None:
    wire = Wire()
    a, b = RelayBus(End(wire)), RelayBus(End(wire))
    await a.open()
    await b.open()
    async with (
        b.subscribe(Matcher(everywhere=True)) as watcher,
        b.subscribe(Matcher()) as actor,
        a.subscribe(Matcher(everywhere=True)) as own,
    ):
        on_a, on_b = started("on-a"), started("on-b")
        a.publish(on_a)
        b.publish(on_b)
        assert watcher.drain() == [on_a, on_b]  # decoded equal, in order
        assert actor.drain() == [on_b]  # acting consumers see only their process's events
        assert own.drain() == [on_a, on_b]  # a process's own event arrives once, not twice
    await a.aclose()
    assert b.subscriber_count == 0


async def test_a_bad_relayed_message_is_ignored() -> None:
    wire = Wire()
    bus = RelayBus(End(wire))
    sender = End(wire)
    await bus.open()
    async with bus.subscribe(Matcher(everywhere=True)) as watcher:
        sender.send("not an event")
        bus.publish(started("fine"))
        assert [e.payload for e in watcher.drain()] == [SessionChange("fine", "AK")]
