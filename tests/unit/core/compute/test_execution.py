"""Result hand-outs of a run: order, merging, statuses, flush windows."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from hangar.agent.models import RunOutput
from hangar.core.compute.execution import ConsoleItem, Run, RunStatus, append_console


def _run() -> Run:
    session: Any = type("S", (), {"id": uuid.uuid4(), "created_at": datetime.now(UTC)})()
    return Run("r1", session)


async def _outputs(items: list[RunOutput], gate: asyncio.Event | None = None
                   ) -> AsyncIterator[RunOutput]:  # fmt: skip
    for item in items:
        if gate is not None and item.kind == "finished":
            await gate.wait()
        yield item


def test_consecutive_chunks_merge_per_stream() -> None:
    console: list[ConsoleItem] = []
    for kind, text in [("stdout", "a"), ("stdout", "b"), ("stderr", "c"), ("stdout", "d")]:
        append_console(console, RunOutput(kind, text))
    append_console(console, RunOutput("media", "data:image/png;base64,AA", mime="image/png"))
    append_console(console, RunOutput("stdout", "e"))
    assert console == [
        ConsoleItem("stdout", "ab"),
        ConsoleItem("stderr", "c"),
        ConsoleItem("stdout", "d"),
        ConsoleItem("media", "data:image/png;base64,AA", "image/png"),
        ConsoleItem("stdout", "e"),
    ]


async def test_statuses_end_each_hand_out_in_order() -> None:
    run = _run()
    records = [
        RunOutput("stdout", "cleaning\n"), RunOutput("clean-finished", exit_code=0),
        RunOutput("stdout", "building\n"), RunOutput("build-finished", exit_code=0),
        RunOutput("stdout", "hello "), RunOutput("stdout", "world\n"),
        RunOutput("stderr", "warn\n"), RunOutput("finished", exit_code=3),
    ]  # fmt: skip
    await run.feed(_outputs(records))
    first, second, third = [await run.take(0.01) for _ in range(3)]
    assert (first.status, first.exit_code, first.console) == (
        RunStatus.CLEAN_FINISHED, 0, [ConsoleItem("stdout", "cleaning\n")])  # fmt: skip
    assert (second.status, second.console) == (
        RunStatus.BUILD_FINISHED, [ConsoleItem("stdout", "building\n")])  # fmt: skip
    assert (third.status, third.exit_code) == (RunStatus.FINISHED, 3)
    assert third.console == [
        ConsoleItem("stdout", "hello world\n"),
        ConsoleItem("stderr", "warn\n"),
    ]
    assert run.finished


async def test_continued_while_running_then_finished() -> None:
    run = _run()
    gate = asyncio.Event()
    task = asyncio.create_task(run.feed(_outputs(
        [RunOutput("stdout", "tick\n"), RunOutput("finished", exit_code=0)], gate)))  # fmt: skip
    partial = await run.take(0.05)
    assert partial.status is RunStatus.CONTINUED
    assert partial.exit_code is None
    assert partial.console == [ConsoleItem("stdout", "tick\n")]
    empty = await run.take(0.01)
    assert (empty.status, empty.console) == (RunStatus.CONTINUED, [])
    gate.set()
    await task
    last = await run.take(0.05)
    assert (last.status, last.exit_code, last.console) == (RunStatus.FINISHED, 0, [])
    assert last.run_id == "r1" and last.status.ended


async def test_agent_failure_ends_the_run_visibly() -> None:
    async def broken() -> AsyncIterator[RunOutput]:
        yield RunOutput("stdout", "partial\n")
        raise RuntimeError("agent went away")

    run = _run()
    await run.feed(broken())
    result = await run.take(0.01)
    assert result.status is RunStatus.FINISHED
    assert result.exit_code == 1
    assert "agent went away" in result.console[-1].text


async def test_a_stream_hands_out_output_as_soon_as_there_is_some() -> None:
    """An eager hand-out (the execute WebSocket) returns the first output at once, before
    the run has a status; a polling one waits for the status (or its flush time)."""
    run = _run()
    gate = asyncio.Event()
    task = asyncio.create_task(run.feed(_outputs(
        [RunOutput("stdout", "1\n"), RunOutput("finished", exit_code=0)], gate)))  # fmt: skip
    loop = asyncio.get_running_loop()
    started = loop.time()
    first = await run.take(10.0, eager=True)
    assert loop.time() - started < 5.0  # not held until the flush time
    assert (first.status, first.console) == (RunStatus.CONTINUED, [ConsoleItem("stdout", "1\n")])
    waiting = asyncio.create_task(run.take(10.0, eager=True))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # nothing new: it waits for output or a status
    gate.set()
    await task
    last = await waiting
    assert (last.status, last.exit_code, last.console) == (RunStatus.FINISHED, 0, [])
