"""The billing loop passes at once, after each metered session event (not others) and on
its period; a failing pass does not end it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from hangar.core.billing.loop import billing_loop
from hangar.core.events import EventKind, InProcessBus
from hangar.core.events.envelope import Event, SessionChange, Tenant


def event(kind: EventKind) -> Event:
    tenant = Tenant(uuid.uuid4(), None, "default")
    return Event(kind, uuid.uuid4(), tenant, SessionChange("s", "k"), datetime.now(UTC))


async def test_a_pass_follows_session_starts_pauses_and_ends_only() -> None:
    bus, passes = InProcessBus(), asyncio.Queue[int]()

    async def one_pass() -> None:
        passes.put_nowait(1)
        if passes.qsize() == 2:
            raise RuntimeError("a failed pass is retried with the next")

    loop = asyncio.create_task(billing_loop(one_pass, bus, every=3600, settle=0))
    await asyncio.wait_for(passes.get(), 5)  # at once
    await asyncio.sleep(0.05)
    assert bus.subscriber_count == 1  # subscribed right after the first pass
    bus.publish(event(EventKind.SESSION_ENQUEUED))  # not metered: no pass
    await asyncio.sleep(0.05)
    assert passes.empty()
    for kind in (EventKind.SESSION_SUSPENDED, EventKind.SESSION_STARTED):
        bus.publish(event(kind))
        await asyncio.wait_for(passes.get(), 5)
    loop.cancel()


async def test_without_a_bus_it_passes_on_its_period() -> None:
    passes = asyncio.Queue[int]()

    async def one_pass() -> None:
        passes.put_nowait(1)

    loop = asyncio.create_task(billing_loop(one_pass, None, every=0.01))
    for _ in range(3):
        await asyncio.wait_for(passes.get(), 5)
    loop.cancel()
