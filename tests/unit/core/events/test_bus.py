"""The in-process event bus: matching, tenant scoping, overflow, unsubscribe, the codec."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from hangar.core.events import (
    PAYLOAD_TYPES,
    Event,
    EventBus,
    EventKind,
    InProcessBus,
    Matcher,
    Overflow,
    Overflowed,
    SessionChange,
    TaskChange,
    Tenant,
)
from hangar.core.events.codec import decode, encode

ALICE = Tenant(uuid.uuid4(), uuid.uuid4(), "default")
BOB = Tenant(uuid.uuid4(), uuid.uuid4(), "default")
AT = datetime(2026, 1, 1, tzinfo=UTC)


def event(
    kind: EventKind = EventKind.SESSION_STARTED,
    tenant: Tenant = ALICE,
    subject: uuid.UUID | None = None,
    name: str = "s1",
) -> Event:
    return Event(kind, subject or uuid.uuid4(), tenant, SessionChange(name, "AKIA"), AT)


def drain(bus: InProcessBus, matcher: Matcher, published: list[Event]) -> list[Event]:
    """What a subscriber with ``matcher`` receives of ``published``."""

    async def run() -> list[Event]:
        async with bus.subscribe(matcher) as events:
            for item in published:
                bus.publish(item)
            return events.drain()

    return asyncio.run(run())


def test_kinds_and_subject_select_events() -> None:
    one, other = uuid.uuid4(), uuid.uuid4()
    published = [
        event(EventKind.SESSION_ENQUEUED, subject=one),
        event(EventKind.SESSION_STARTED, subject=one),
        event(EventKind.SESSION_STARTED, subject=other),
        event(EventKind.SESSION_TERMINATED, subject=one),
    ]
    kinds = frozenset({EventKind.SESSION_STARTED, EventKind.SESSION_TERMINATED})
    got = drain(InProcessBus(), Matcher(kinds, subject=one), published)
    assert got == [published[1], published[3]]
    assert drain(InProcessBus(), Matcher(), published) == published


def test_a_predicate_narrows_further() -> None:
    published = [event(name="keep"), event(name="drop")]
    matcher = Matcher(where=lambda e: e.payload.session_name == "keep")
    assert drain(InProcessBus(), matcher, published) == published[:1]


def test_a_subscriber_scoped_to_one_tenant_never_sees_another() -> None:
    published = [event(tenant=ALICE), event(tenant=BOB), event(tenant=ALICE)]
    mine = drain(InProcessBus(), Matcher(tenant=lambda t: t.user_id == ALICE.user_id), published)
    assert mine == [published[0], published[2]]
    project = Matcher(tenant=lambda t: t.project_id == BOB.project_id)
    assert drain(InProcessBus(), project, published) == [published[1]]


async def test_a_full_queue_drops_its_oldest_events_by_default() -> None:
    bus = InProcessBus()
    published = [event(name=f"s{i}") for i in range(5)]
    async with bus.subscribe(Matcher(), size=2) as events:
        for item in published:
            bus.publish(item)
        assert [await events.get(), await events.get()] == published[3:]
        assert events.dropped == 3
        bus.publish(published[0])  # the stream goes on
        assert await events.get() == published[0]


async def test_a_full_queue_ends_a_subscription_that_asked_to_end() -> None:
    bus = InProcessBus()
    async with bus.subscribe(Matcher(), size=2, overflow=Overflow.END) as events:
        for _ in range(3):
            bus.publish(event())
        assert events.ended
        assert bus.subscriber_count == 0  # it receives nothing more
        with pytest.raises(Overflowed):
            await events.get()


async def test_a_slow_subscriber_does_not_hold_up_the_others() -> None:
    bus = InProcessBus()
    async with (
        bus.subscribe(Matcher(), size=1) as slow,
        bus.subscribe(Matcher(), size=10) as quick,
    ):
        published = [event() for _ in range(5)]
        for item in published:
            bus.publish(item)
        assert [await quick.get() for _ in published] == published
        assert await slow.get() == published[-1]


async def test_cancelling_a_waiting_subscriber_unsubscribes_it() -> None:
    bus = InProcessBus()
    subscribed = asyncio.Event()

    async def listen() -> None:
        async with bus.subscribe(Matcher()) as events:
            subscribed.set()
            await events.get()

    task = asyncio.create_task(listen())
    await subscribed.wait()
    assert bus.subscriber_count == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert bus.subscriber_count == 0
    bus.publish(event())  # nobody left to deliver to


async def test_events_arrive_in_publish_order_and_iterate() -> None:
    bus = InProcessBus()
    published = [event(kind) for kind in EventKind if PAYLOAD_TYPES[kind] is SessionChange]
    async with bus.subscribe(Matcher()) as events:
        for item in published:
            bus.publish(item)
        received = []
        async for item in events:
            received.append(item)
            if len(received) == len(published):
                break
    assert received == published


async def test_closing_the_bus_wakes_waiters() -> None:
    bus: EventBus = InProcessBus()
    waiter = asyncio.create_task(bus.wait_closed())
    await asyncio.sleep(0)
    bus.close()
    await asyncio.wait_for(waiter, 1)
    assert bus.closed


def test_a_kind_carries_its_own_payload_type() -> None:
    with pytest.raises(TypeError):
        Event(EventKind.SESSION_STARTED, uuid.uuid4(), ALICE, "not a payload", AT)  # type: ignore[arg-type]


def test_events_survive_the_codec_for_other_processes() -> None:
    original = Event(
        EventKind.SESSION_FAILED,
        uuid.uuid4(),
        BOB,
        SessionChange("batch-1", "AKIA", "task-finished", 3),
        AT,
    )
    assert decode(encode(original)) == original


def test_task_events_carry_task_changes_and_survive_the_codec() -> None:
    owner = Tenant(uuid.uuid4(), None, "default")  # a background task has no project
    change = TaskChange("vfolder_clone", "running", 3, 10, "copying")
    original = Event(EventKind.TASK_PROGRESSED, uuid.uuid4(), owner, change, AT)
    assert decode(encode(original)) == original
    with pytest.raises(TypeError):
        Event(EventKind.TASK_FINISHED, uuid.uuid4(), owner, SessionChange("s", "AKIA"), AT)
