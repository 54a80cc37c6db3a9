"""A session's image pull shown in its status info while it is PREPARING: the agent is
asked how far it is every ``interval`` while the kernel is being created, and a change is
written (``pulling HOST/NAME:TAG: 120.5 of 241.8 MiB (49%)``, then ``unpacking …``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from hangar.agent.models import ImagePull, ImageRequest
from hangar.core.agents.client import AgentClient

log = logging.getLogger(__name__)
MIB = 1024 * 1024


def describe(pull: ImagePull) -> str:
    if pull.phase in ("downloading", "resolving") and pull.total:
        percent = 100 * pull.done // pull.total
        return (f"pulling {pull.reference}: {pull.done / MIB:.1f} of {pull.total / MIB:.1f} "
                f"MiB ({percent}%)")  # fmt: skip
    if pull.phase == "unpacking":
        return f"unpacking {pull.reference}"
    return f"pulling {pull.reference}"


async def _watch(agent: AgentClient, reference: str, report: Callable[[str], Awaitable[None]],
                 interval: float) -> None:  # fmt: skip
    shown = None
    while True:
        await asyncio.sleep(interval)
        try:
            pull = await agent.image_pull(reference)
        except Exception as exc:  # noqa: BLE001 - progress is best effort; the pull goes on
            log.debug("pull progress of %s unavailable: %s", reference, exc)
            continue
        text = describe(pull) if pull is not None else None
        if text is not None and text != shown:
            await report(text)
            shown = text


@contextlib.asynccontextmanager
async def pull_progress(
    agent: AgentClient,
    image: ImageRequest | None,
    report: Callable[[str], Awaitable[None]],
    interval: float = 0.5,
) -> AsyncIterator[None]:
    """While the body runs, report the agent's pull of ``image`` (nothing for no image)."""
    if image is None:
        yield
        return
    watcher = asyncio.create_task(_watch(agent, image.reference, report, interval))
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
