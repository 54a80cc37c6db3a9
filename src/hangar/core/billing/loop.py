"""The server's billing loop: a metering pass (and the automatic limits' pauses) soon after
every session start, pause or end, and every ``every`` seconds in any case."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from hangar.core.events import EventBus, EventKind, Matcher

log = logging.getLogger("hangar.core.billing")

METERED_EVENTS = frozenset(
    {
        EventKind.SESSION_STARTED,
        EventKind.SESSION_RESTARTED,
        EventKind.SESSION_SUSPENDED,
        EventKind.SESSION_TERMINATED,
        EventKind.SESSION_FAILED,
    }
)
SETTLE_SECONDS = 1.0  # events close together make one pass


class Pass(Protocol):
    async def __call__(self) -> None: ...


async def billing_loop(
    one_pass: Pass, bus: EventBus | None, every: float, settle: float = SETTLE_SECONDS
) -> None:
    """Run ``one_pass`` now, after metered session events and every ``every`` seconds, until
    cancelled; a failed pass is logged and retried with the next."""
    if bus is None:
        while True:
            await _guarded(one_pass)
            await asyncio.sleep(every)
    async with bus.subscribe(Matcher(METERED_EVENTS)) as events:
        while True:
            await _guarded(one_pass)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await events.get()
                    await asyncio.sleep(settle)
            events.drain()


async def _guarded(one_pass: Pass) -> None:
    try:
        await one_pass()
    except Exception:
        log.exception("billing: metering pass failed")
