"""A PREPARING session's status info follows its agent's image pull."""

from __future__ import annotations

import asyncio

from hangar.agent.models import ImagePull, ImageRequest
from hangar.core.compute.pulls import describe, pull_progress

MIB = 1024 * 1024


class Agent:
    """Answers the pull's progress from a script, one step per ask."""

    def __init__(self, steps: list[ImagePull | None]) -> None:
        self.steps = steps
        self.asked: list[str] = []
        self.drained = asyncio.Event()

    async def image_pull(self, reference: str) -> ImagePull | None:
        self.asked.append(reference)
        step = self.steps.pop(0) if self.steps else None
        if not self.steps:
            self.drained.set()
        return step


async def test_progress_is_reported_as_it_changes_until_the_kernel_starts() -> None:
    ref = "127.0.0.1:5000/team/python:3.11"
    agent = Agent([
        None,
        ImagePull(ref, "downloading", 10 * MIB, 40 * MIB),
        ImagePull(ref, "downloading", 10 * MIB, 40 * MIB),
        ImagePull(ref, "downloading", 30 * MIB, 40 * MIB),
        ImagePull(ref, "unpacking", 40 * MIB, 40 * MIB),
    ])  # fmt: skip
    reported: list[str] = []

    async def report(text: str) -> None:
        reported.append(text)

    async with pull_progress(agent, ImageRequest(ref), report, interval=0.01):  # type: ignore[arg-type]
        await asyncio.wait_for(agent.drained.wait(), 5)
        await asyncio.sleep(0.03)
    assert reported == [
        f"pulling {ref}: 10.0 of 40.0 MiB (25%)",
        f"pulling {ref}: 30.0 of 40.0 MiB (75%)",
        f"unpacking {ref}",
    ]
    asked = len(agent.asked)
    await asyncio.sleep(0.03)
    assert len(agent.asked) == asked  # the watcher stopped with the kernel's start


async def test_sessions_without_an_image_ask_nothing() -> None:
    agent = Agent([])
    async with pull_progress(agent, None, lambda text: asyncio.sleep(0), interval=0.01):  # type: ignore[arg-type]
        await asyncio.sleep(0.03)
    assert agent.asked == []
    assert describe(ImagePull("x", "resolving")) == "pulling x"
